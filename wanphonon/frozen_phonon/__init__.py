"""Frozen-phonon input: Wannier90 runs of the equilibrium and displaced crystal -> dH/du(R).

Reading and combining runs (:mod:`.builder`), gauge alignment (:mod:`.gauge`), consistency of
the runs (:mod:`.consistency`), finite-difference stencils (:mod:`.displacement`) and
phonon patterns of several ions (:mod:`.mode`).
"""
