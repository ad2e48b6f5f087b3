"""GPAW: one ASE/GPAW script per run (plane waves, symmetry off, the .win k-points) and Wannier90.

The script builds the run's atoms, runs GPAW with ``symmetry='off'`` on the
explicit k-point list of the ``.win`` (same order, so GPAW's overlaps match the
Wannier90 k-point indices), then GPAW's Wannier90 interface writes the
projections (``[dft] orbitals``: GPAW basis-function indices per species or
label), eigenvalues and overlaps, and ``wannier90.x`` runs on the prepared ``.win``.
"""

from __future__ import annotations

import os

from ...errors import ConfigError

CODE = "gpaw"
SYMMETRY_SETTINGS = "symmetry='off' in every GPAW calculator"
MANAGED = {"mode", "kpts", "symmetry", "nbands", "txt", "xc"}


def seedname(run: str) -> str:
    return run


def _orbitals(dft: dict, structure, where: str) -> list[list[int]]:
    table = {k.lower(): v for k, v in dft["orbitals"].items()}
    out = []
    for lab, sym in zip(structure.labels, structure.symbols):
        value = table.get(lab.lower(), table.get(sym.lower()))
        if value is None:
            raise ConfigError(f"[dft] orbitals has no entry for {lab}", path=where,
                              fix="orbitals = { B = [0], N = [0, 1, 2, 3] } (GPAW basis indices; [] for none)")
        if not (isinstance(value, list) and all(isinstance(i, int) for i in value)):
            raise ConfigError(f"[dft] orbitals.{lab} must be a list of integers", path=where)
        out.append(list(value))
    return out


def check(dft: dict, structure, where: str) -> None:
    _orbitals(dft, structure, where)
    for key in dft.get("parameters", {}):
        if key in MANAGED:
            raise ConfigError(f"[dft] parameters.{key} is set by prepare", path=where,
                              fix="remove it (" + ("symmetry must stay off in every run" if key == "symmetry"
                                                   else "use [dft] ecut / xc and [wannier] num_bands, mp_grid")
                                  + ")")


def _included_bands(tpl) -> list[int]:
    excluded = set()
    value = tpl.keywords.get("exclude_bands")
    if value is not None:
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        for part in text.replace(" ", "").split(","):
            if "-" in part:
                a, b = part.split("-")
                excluded.update(range(int(a), int(b) + 1))
            elif part:
                excluded.add(int(part))
    return [b - 1 for b in range(1, tpl.dft_bands + 1) if b not in excluded]


def script_for(run: str, structure, positions, tpl, dft: dict, where: str) -> str:
    seed = seedname(run)
    params = dict(dft.get("parameters", {}))
    nb = tpl.dft_bands
    nbands = nb + max(4, nb // 5)
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    symbols = list(structure.symbols)
    return f'''"""GPAW + Wannier90 for run {run!r} (written by wanphonon prepare; settings identical in every run)."""
import os

import numpy as np
from ase import Atoms
from gpaw import GPAW, PW
from gpaw.wannier90 import Wannier90

seed = {seed!r}
atoms = Atoms({symbols!r}, pbc=True,
              cell={[[float(x) for x in row] for row in structure.atoms.cell[:]]!r},
              positions={[[float(x) for x in p] for p in positions]!r})
kpts = np.array({[[float(x) for x in k] for k in tpl.kpoints]!r})   # the .win kpoints block, same order
calc = GPAW(mode=PW({float(dft["ecut"])!r}), xc={dft.get("xc", "PBE")!r}, kpts=kpts, symmetry="off",
            nbands={nbands}, convergence={{"bands": {nb}}}, txt=seed + ".txt"{extra})
atoms.calc = calc
atoms.get_potential_energy()
calc.write(seed + ".gpw", mode="all")
w90 = Wannier90(calc, seed=seed, bands={_included_bands(tpl)!r},
                orbitals_ai={_orbitals(dft, structure, where)!r})
assert os.system("wannier90.x -pp " + seed) == 0
w90.write_projections()
w90.write_eigenvalues()
w90.write_overlaps()
assert os.system("wannier90.x " + seed) == 0
'''


def write(folder: str, run: str, structure, positions, tpl, dft: dict, where: str = "") -> list[str]:
    path = os.path.join(folder, f"{run}.py")
    with open(path, "w") as fh:
        fh.write(script_for(run, structure, positions, tpl, dft, where))
    return [path]


def script(runs: list[str], dft: dict) -> str:
    names = " ".join(runs)
    return f"""#!/bin/sh
# Every run with identical settings: GPAW (symmetry off, the .win k-points), then Wannier90.
# Then: wanphonon run wanphonon.toml --out result
set -e
PYTHON="${{PYTHON:-python3}}"
cd "$(dirname "$0")"
for run in {names}; do
  (cd "$run" && $PYTHON "$run.py")
done
"""
