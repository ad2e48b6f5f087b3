"""Quantum ESPRESSO: a pw.x SCF input per run, directly on the Wannier90 k-grid, and pw2wannier90.

As in examples/hbn_dft/pipeline.py: one SCF per structure with ``nosym = .true.``
and ``noinv = .true.`` on the explicit full k-point list of the ``.win`` (so no
separate NSCF run is needed and every run uses the same k-points), ``nbnd`` =
the bands Wannier90 reads.  Files: ``<run>.pwi``, ``<run>.pw2wan``, ``<run>.win``.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import ConfigError

CODE = "qe"
SYMMETRY_SETTINGS = "nosym = .true., noinv = .true. in &system of every pw.x input"

#: Namelist keys prepare sets itself (a user value is refused).
MANAGED = {"control": {"calculation", "prefix", "outdir", "pseudo_dir"},
           "system": {"ibrav", "nat", "ntyp", "celldm(1)", "a", "b", "c", "cosab", "cosac", "cosbc",
                      "nbnd", "nosym", "noinv", "ecutwfc", "ecutrho", "nosym_evc"},
           "electrons": set()}


def seedname(run: str) -> str:
    return run


def _value(v) -> str:
    if isinstance(v, bool):
        return ".true." if v else ".false."
    if isinstance(v, str):
        return "'" + v.replace("'", "") + "'"
    return repr(v)


def check(dft: dict, structure, where: str) -> None:
    missing = sorted(set(structure.symbols) - set(dft["pseudopotentials"]))
    if missing:
        raise ConfigError(f"[dft] pseudopotentials has no entry for {', '.join(missing)}", path=where,
                          fix="pseudopotentials = { B = \"B.pbe-n-kjpaw_psl.1.0.0.UPF\", ... } for every species")
    for name in ("control", "system", "electrons"):
        for key in dft.get(name, {}):
            if key.lower() in MANAGED[name]:
                why = ("symmetry must stay off in every run" if key.lower() in ("nosym", "noinv", "nosym_evc")
                       else "use the [dft] / [wannier] keys instead")
                raise ConfigError(f"[dft] {name}.{key} is set by prepare", path=where, fix=f"remove it ({why})")


def pw_input(run: str, structure, positions, tpl, dft: dict, masses: dict[str, float]) -> str:
    species = list(dict.fromkeys(structure.symbols))
    control = {"calculation": "scf", "prefix": run, "outdir": dft.get("outdir", "./out"),
               **({"pseudo_dir": dft["pseudo_dir"]} if "pseudo_dir" in dft else {}), **dft.get("control", {})}
    system = {"ibrav": 0, "nat": len(positions), "ntyp": len(species), "ecutwfc": dft["ecutwfc"],
              **({"ecutrho": dft["ecutrho"]} if "ecutrho" in dft else {}), "nbnd": tpl.dft_bands,
              "nosym": True, "noinv": True, **dft.get("system", {})}
    electrons = dict(dft.get("electrons", {}))
    lines = []
    for name, table in (("control", control), ("system", system), ("electrons", electrons)):
        lines.append(f"&{name}")
        lines += [f"  {k} = {_value(v)}" for k, v in table.items()]
        lines.append("/")
    lines.append("ATOMIC_SPECIES")
    lines += [f"{s} {masses[s]:.6f} {dft['pseudopotentials'][s]}" for s in species]
    lines.append("CELL_PARAMETERS angstrom")
    lines += ["".join(f"{x:20.12f}" for x in row) for row in structure.atoms.cell[:]]
    lines.append("ATOMIC_POSITIONS angstrom")
    lines += [f"{s:<3s}" + "".join(f"{x:20.12f}" for x in p) for s, p in zip(structure.symbols, positions)]
    w = 1.0 / len(tpl.kpoints)
    lines += ["K_POINTS crystal", str(len(tpl.kpoints))]
    lines += [f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f} {w:.12e}" for k in tpl.kpoints]
    return "\n".join(lines) + "\n"


def pw2wan_input(run: str, dft: dict) -> str:
    return (f"&inputpp\n  outdir = '{dft.get('outdir', './out')}'\n  prefix = '{run}'\n  seedname = '{run}'\n"
            "  write_mmn = .true.\n  write_amn = .true.\n  write_unk = .false.\n/\n")


def write(folder: str, run: str, structure, positions, tpl, dft: dict) -> list[str]:
    masses = {}
    for s, m in zip(structure.symbols, structure.masses):
        masses.setdefault(s, float(m))
    files = [os.path.join(folder, f"{run}.pwi"), os.path.join(folder, f"{run}.pw2wan")]
    with open(files[0], "w") as fh:
        fh.write(pw_input(run, structure, np.asarray(positions), tpl, dft, masses))
    with open(files[1], "w") as fh:
        fh.write(pw2wan_input(run, dft))
    return files


def script(runs: list[str], dft: dict) -> str:
    names = " ".join(runs)
    return f"""#!/bin/sh
# Every run with identical settings: pw.x SCF (no symmetry, the .win k-points), Wannier90.
# Then: wanphonon run wanphonon.toml --out result
# MPI: PW="mpirun -np 4 pw.x" sh run_all.sh
set -e
PW="${{PW:-pw.x}}"; P2W="${{P2W:-pw2wannier90.x}}"; W90="${{W90:-wannier90.x}}"
cd "$(dirname "$0")"
for run in {names}; do
  (cd "$run" && $PW -in "$run.pwi" > "$run.pwo" && $W90 -pp "$run" \\
     && $P2W -in "$run.pw2wan" > "$run.pw2wan.out" && $W90 "$run")
done
"""
