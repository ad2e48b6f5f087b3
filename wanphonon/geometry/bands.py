"""Band structure on a stack of k-points: eigen-decomposition and occupation.

All arrays carry the k-point index first: ``H`` has shape ``(nk, N, N)``.
Energies are in eV.  The occupied manifold is the ``n_occ`` lowest levels at
every k-point; it must be separated from the rest by a direct gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GapClosedError
from . import backend

#: Default smallest admissible direct gap (eV) between occupied and empty levels.
DEFAULT_GAP_TOLERANCE = 1.0e-4


@dataclass(frozen=True)
class Eigensystem:
    """Eigenpairs of ``H(k)`` for a batch of k-points.

    energies: ``(nk, N)`` ascending, eV.
    vectors:  ``(nk, N, N)``; column ``n`` of ``vectors[k]`` is ``|n(k)>``.
    (numpy arrays, or torch tensors on a device: :mod:`.backend`.)
    n_occ:    number of occupied levels (the lowest ones), the same at every k.
    """

    energies: np.ndarray
    vectors: np.ndarray
    n_occ: int

    @property
    def direct_gap(self) -> np.ndarray:
        """``E_{n_occ} - E_{n_occ-1}`` per k-point (eV), on the host."""
        return backend.to_numpy(self.energies[:, self.n_occ] - self.energies[:, self.n_occ - 1])

    def subset(self, mask: np.ndarray) -> "Eigensystem":
        """The eigenpairs at the k-points selected by a boolean mask."""
        return Eigensystem(self.energies[mask], self.vectors[mask], self.n_occ)


def count_occupied(energies: np.ndarray, *, n_occ: int | None = None,
                   fermi_energy: float | None = None) -> int:
    """Number of occupied levels, from a band count or a Fermi energy in a gap.

    With ``fermi_energy`` the count of levels below it must be the same at every
    k-point; otherwise the Fermi energy is not inside a gap and a
    :class:`GapClosedError` names the first k-point where the count differs.
    """
    n_bands = energies.shape[-1]
    if (n_occ is None) == (fermi_energy is None):
        raise ValueError("give exactly one of n_occ and fermi_energy")
    if fermi_energy is not None:
        counts = np.count_nonzero(energies < fermi_energy, axis=-1)
        n_occ = int(counts[0])
        bad = np.flatnonzero(counts != n_occ)
        if bad.size:
            i = int(bad[0])
            raise GapClosedError(
                f"the Fermi energy {fermi_energy:.6g} eV is not inside a gap: "
                f"{counts[i]} levels lie below it here but {n_occ} at the first k-point",
                index=i, gap=0.0,
                fix="choose a Fermi energy inside the gap at every k-point, or give occupied_bands")
    if not 0 < n_occ < n_bands:
        raise GapClosedError(
            f"{n_occ} occupied levels out of {n_bands}: the model needs at least one "
            "occupied and one empty level",
            index=0, gap=0.0,
            fix=f"set occupied_bands between 1 and {n_bands - 1}")
    return n_occ


def diagonalize(hamiltonian: np.ndarray, *, n_occ: int | None = None,
                fermi_energy: float | None = None) -> Eigensystem:
    """Diagonalise a stack of Hermitian matrices and fix the occupied manifold.

    The gap is not checked here (see :func:`check_gap`), so that the engine can
    first drop k-points excluded by an adiabatic cutoff.
    """
    energies, vectors = backend.eigh(hamiltonian)
    host = backend.to_numpy(energies)
    finite = np.all(np.isfinite(host), axis=-1)
    if not np.all(finite):
        raise GapClosedError("the Hamiltonian has non-finite entries (NaN or inf)",
                             index=int(np.flatnonzero(~finite)[0]), gap=float("nan"),
                             fix="check the input Hamiltonian for NaN/inf values")
    n_occ = count_occupied(host, n_occ=n_occ, fermi_energy=fermi_energy)
    return Eigensystem(energies, vectors, n_occ)


def check_gap(eig: Eigensystem, gap_tolerance: float = DEFAULT_GAP_TOLERANCE) -> None:
    """Raise :class:`GapClosedError` if the direct gap is below ``gap_tolerance`` (eV).

    Every formula divides by differences of occupied and empty energies, so a
    (nearly) closed gap would silently produce huge numbers.
    """
    if eig.energies.shape[0] == 0:
        return
    gap = eig.direct_gap
    i = int(np.argmin(gap))
    if gap[i] < gap_tolerance:
        n = eig.n_occ
        raise GapClosedError(
            f"the direct gap between level {n} (occupied, {float(eig.energies[i, n - 1]):.6f} eV) and "
            f"level {n + 1} (empty, {float(eig.energies[i, n]):.6f} eV) is {gap[i]:.3e} eV, "
            f"below the tolerance {gap_tolerance:.1e} eV",
            index=i, gap=float(gap[i]),
            fix="the system is metallic or semimetallic here: check the occupation, shift the "
                "k-mesh, or exclude small-gap regions with phonon_energy_meV and the adiabatic cutoff")
