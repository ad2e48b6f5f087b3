"""A cheap look at the band gap before any integral: the pre-flight check of ``run`` and ``check``.

On a coarse uniform mesh (at most :data:`PRESCAN_POINTS` per reciprocal
direction, never finer than the run's mesh) the eigenvalues of ``H(k)`` settle
the occupation (a Fermi energy inside a band is found here) and the direct gap
is checked with the run's tolerance and cutoff, so that a closed gap is refused
in seconds instead of hours into a run.  The full mesh may still hold a smaller
gap than the pre-scan saw; the engine checks every point again.
"""

from __future__ import annotations

import numpy as np

from ..errors import GapClosedError
from ..geometry.bands import count_occupied
from .adaptive import survey_grid
from .grids import UniformGrid

#: Points per reciprocal direction of the pre-scan mesh.
PRESCAN_POINTS = 12


def gap_prescan(setup, occupation) -> dict:
    """``{"occupied_bands", "min_direct_gap_eV", "at_k", "points"}`` from a coarse mesh.

    Continuum models (no lattice) have their occupation and gap fixed by the
    model: only the occupation is returned.  Raises :class:`GapClosedError`
    (with the k-point) if the occupation is ill-defined or the gap is closed.
    """
    grid = survey_grid(setup.grid)
    if not isinstance(grid, UniformGrid):
        n_occ = occupation.n_occ if occupation.n_occ is not None else setup.occupied_bands
        return {"occupied_bands": n_occ, "min_direct_gap_eV": None, "at_k": None, "points": 0}
    mesh = [min(m, PRESCAN_POINTS) for m in grid.mesh]
    coarse = UniformGrid(setup.lattice, mesh, grid.shift, batch_size=int(np.prod(mesh)))
    batch = coarse.batch(0)
    energies = np.linalg.eigvalsh(setup.system.derivatives(batch.k_cart).H)
    try:
        n_occ = count_occupied(energies, n_occ=occupation.n_occ, fermi_energy=occupation.fermi_energy)
    except GapClosedError as exc:
        k = batch.k_cart[exc.index]
        raise GapClosedError(f"{exc.problem} (pre-scan of the gap on a {mesh} mesh, at k = "
                             f"({k[0]:.6f}, {k[1]:.6f}, {k[2]:.6f}) 1/A)",
                             index=exc.index, gap=exc.gap, fix=exc.fix) from None
    gap = energies[:, n_occ] - energies[:, n_occ - 1]
    e_p = occupation.phonon_energy
    cutoff = occupation.adiabatic_cutoff and e_p is not None
    keep = gap >= e_p if cutoff else np.ones(len(gap), bool)
    tolerance = min(occupation.gap_tolerance, e_p) if cutoff else occupation.gap_tolerance
    i = int(np.argmin(np.where(keep, gap, np.inf))) if keep.any() else 0
    if keep.any() and gap[i] < tolerance:
        k = batch.k_cart[i]
        raise GapClosedError(
            f"the direct gap between level {n_occ} (occupied, {energies[i, n_occ - 1]:.6f} eV) and "
            f"level {n_occ + 1} (empty, {energies[i, n_occ]:.6f} eV) is {gap[i]:.3e} eV at k = "
            f"({k[0]:.6f}, {k[1]:.6f}, {k[2]:.6f}) 1/A, below the tolerance {tolerance:.1e} eV "
            f"(pre-scan of the gap on a {mesh} mesh, before any integral)",
            index=i, gap=float(gap[i]),
            fix="check occupied_bands (per spin when spin_degeneracy = 2) or fermi_energy: the "
                "Fermi level may be inside a band; for a semimetal, exclude the small-gap region "
                "with phonon_energy_meV and adiabatic_cutoff = true; for a genuinely small gap, "
                "lower [electrons] gap_tolerance")
    j = int(np.argmin(gap))
    return {"occupied_bands": int(n_occ), "min_direct_gap_eV": float(gap[j]),
            "at_k": batch.k_cart[j].tolist(), "points": int(len(gap))}
