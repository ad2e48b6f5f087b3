"""Input writers for the DFT codes: one module per code, the same interface.

Each writer module defines ``CODE``, ``SYMMETRY_SETTINGS`` (what switches symmetry
off, reported to the user), ``seedname(run)`` (the Wannier90 seedname inside the
run's folder), ``check(dft, structure, where)`` (code-specific validation of
``[dft]``), ``write(folder, run, structure, positions, tpl, dft)`` (the run's input
files) and ``script(runs, dft)`` (a shell script that runs everything in order).
"""

from __future__ import annotations

from types import ModuleType

from . import gpaw, qe, vasp

WRITERS: dict[str, ModuleType] = {"qe": qe, "vasp": vasp, "gpaw": gpaw}


def writer(code: str) -> ModuleType:
    return WRITERS[code]
