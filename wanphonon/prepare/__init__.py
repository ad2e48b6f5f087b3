"""``wanphonon prepare``: the front half of the workflow (docs/prepare.md).

From an equilibrium structure and a phonon mode (explicit, or a pair of phonopy
eigenvectors at Gamma or folded to Gamma through a supercell) it writes one folder
per run (equilibrium, +-delta along x and y, optionally +-2 delta) with the
displaced structure in the DFT code's format and a Wannier90 ``.win`` that is the
same in every run apart from the atoms, plus ``wanphonon.toml`` for ``wanphonon
run``, ``run_all.sh`` and ``prepare.json`` (point groups, symmetry verdict, checks).

    from wanphonon.prepare import prepare
    result = prepare("prepare.toml", "runs")          # or prepare(dict, "runs", phonon=phonopy_obj)
    print(result.summary())
"""

from __future__ import annotations

from .driver import PrepareResult, prepare
from .schema import PrepareConfig, from_dict, load

__all__ = ["prepare", "PrepareResult", "PrepareConfig", "load", "from_dict"]

