"""VASP: POSCAR, INCAR (ISYM = -1, LWANNIER90, NBANDS, NUM_WANN), explicit KPOINTS and wannier90.win per run.

VASP's Wannier90 interface reads ``wannier90.win`` from the run folder and keeps
the blocks it finds there (cell, atoms with their labels, kpoints), so the
seedname is ``wannier90``.  VASP sets ``num_wann`` in that file from the INCAR tag
``NUM_WANN`` (default: NBANDS), so the INCAR carries ``NUM_WANN`` = ``[wannier] num_wann``
(without it the ``.amn`` would hold NBANDS projections).  The KPOINTS file lists
exactly the ``.win`` k-points; ``ISYM = -1`` switches symmetry off in every run (equilibrium included, so that
all runs are done alike).  POTCAR files are not written (licence): concatenate
them in the species order of the POSCAR.
"""

from __future__ import annotations

import os

from ...errors import ConfigError

CODE = "vasp"
SYMMETRY_SETTINGS = "ISYM = -1 in every INCAR"
MANAGED = {"ISYM", "LWANNIER90", "NBANDS", "NUM_WANN", "KSPACING", "KGAMMA"}


def seedname(run: str) -> str:
    return "wannier90"


def check(dft: dict, structure, where: str) -> None:
    for key in dft.get("incar", {}):
        if key.upper() in MANAGED:
            raise ConfigError(f"[dft] incar.{key} is set by prepare", path=where,
                              fix="remove it (" + ("symmetry must stay off: ISYM = -1 in every run"
                                                   if key.upper() == "ISYM" else
                                                   "NBANDS and NUM_WANN follow [wannier] num_bands and "
                                                   "num_wann; k-points follow mp_grid")
                                  + ")")


def _value(v) -> str:
    if isinstance(v, bool):
        return ".TRUE." if v else ".FALSE."
    return str(v)


def incar(tpl, dft: dict) -> str:
    lines = ["# written by wanphonon prepare: identical in every run",
             *(f"{k.upper()} = {_value(v)}" for k, v in dft.get("incar", {}).items()),
             "ISYM = -1            # no symmetry: displaced structures must not be symmetrised",
             "LWANNIER90 = .TRUE.",
             f"NBANDS = {tpl.dft_bands}          # = Wannier90 num_bands (+ excluded bands)",
             f"NUM_WANN = {tpl.num_wann}          # = Wannier90 num_wann (VASP's default would be NBANDS)"]
    return "\n".join(lines) + "\n"


def kpoints(tpl) -> str:
    lines = ["explicit k-points: the Wannier90 grid (wanphonon prepare)", str(len(tpl.kpoints)), "Reciprocal"]
    lines += [f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f}   1" for k in tpl.kpoints]
    return "\n".join(lines) + "\n"


def write(folder: str, run: str, structure, positions, tpl, dft: dict) -> list[str]:
    import ase.io
    atoms = structure.atoms.copy()
    atoms.positions = positions
    files = [os.path.join(folder, n) for n in ("POSCAR", "INCAR", "KPOINTS")]
    ase.io.write(files[0], atoms, format="vasp", direct=False, sort=False)
    with open(files[1], "w") as fh:
        fh.write(incar(tpl, dft))
    with open(files[2], "w") as fh:
        fh.write(kpoints(tpl))
    return files


def script(runs: list[str], dft: dict) -> str:
    pot = dft.get("potcars")
    note = ("# POTCAR: concatenate " + ", ".join(f"{k}: {v}" for k, v in pot.items()) + " in POSCAR order\n"
            if pot else "# POTCAR: put the concatenated POTCAR (POSCAR species order) next to this script\n")
    names = " ".join(runs)
    return f"""#!/bin/sh
# Every run with identical settings: VASP (ISYM = -1, LWANNIER90, NUM_WANN), then Wannier90.
# Then: wanphonon run wanphonon.toml --out result
{note}# VASP may raise NBANDS to a multiple of the cores/NCORE: check that OUTCAR's NBANDS equals INCAR's.
set -e
VASP="${{VASP:-vasp_std}}"; W90="${{W90:-wannier90.x}}"
cd "$(dirname "$0")"
for run in {names}; do
  (cd "$run" && cp ../POTCAR . && $VASP > vasp.out && $W90 wannier90)
done
"""
