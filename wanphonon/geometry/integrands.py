"""All k-resolved integrands of wanphonon for one batch of k-points.

:func:`evaluate` is the single entry point the engine calls: it diagonalises
``H(k)``, checks the gap, and returns per-k values of

* ``born_a``, ``born_b``, ``energy``: the three traces of the second Chern form
  ``Tr Omega_{kx ky ux uy}`` (:mod:`.curvature`);
* ``total``: ``T(k)``, the integrand of ``chi_total`` (:mod:`.magnetization`);
* ``born_charge``: ``Tr Omega_{k_i u_j}``, shape ``(nk, 3, 2)``;
* ``berry_curvature``: ``Tr Omega_{kx ky}`` (Angstrom^2), whose integral times
  2 pi is the Chern number of a 2D insulator;
* ``gap``: the direct gap (eV).

Derived per-k quantities: ``born = born_a + born_b``,
``topological = born + energy``, ``nontopological = total - topological``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .bands import DEFAULT_GAP_TOLERANCE, Eigensystem, diagonalize
from .curvature import curvature_trace, interband_matrices, second_chern_traces
from .hamiltonian import HamiltonianDerivatives
from .magnetization import total_integrand
from .projector_chains import ProjectorCalculus

#: Integrands that are summed over the k-grid, in result order.
SCALAR_INTEGRANDS = ("born_a", "born_b", "energy", "total", "berry_curvature")


@dataclass
class KResolved:
    """Per-k integrands of one batch (see module docstring for meanings and units)."""

    born_a: np.ndarray
    born_b: np.ndarray
    energy: np.ndarray
    total: np.ndarray
    berry_curvature: np.ndarray
    born_charge: np.ndarray
    gap: np.ndarray

    @property
    def born(self) -> np.ndarray:
        return self.born_a + self.born_b

    @property
    def topological(self) -> np.ndarray:
        return self.born + self.energy

    @property
    def nontopological(self) -> np.ndarray:
        return self.total - self.topological

    @classmethod
    def zeros(cls, nk: int) -> "KResolved":
        return cls(*(np.zeros(nk) for _ in SCALAR_INTEGRANDS), np.zeros((nk, 3, 2)),
                   np.full(nk, np.inf))

    def scatter(self, mask: np.ndarray, part: "KResolved") -> None:
        """Write ``part`` (the k-points where ``mask`` is true) into ``self``."""
        for f in fields(self):
            getattr(self, f.name)[mask] = getattr(part, f.name)


def evaluate(derivs: HamiltonianDerivatives, *, n_occ: int | None = None,
             fermi_energy: float | None = None,
             gap_tolerance: float = DEFAULT_GAP_TOLERANCE,
             eigensystem: Eigensystem | None = None) -> KResolved:
    """Evaluate every integrand on the batch.

    Give the occupation as ``n_occ`` (band count) or ``fermi_energy`` (eV, inside
    the gap).  ``eigensystem`` may be supplied to fix the eigenvectors (any
    gauge); results do not depend on that choice.
    """
    eig = eigensystem or diagonalize(derivs.H, n_occ=n_occ, fermi_energy=fermi_energy,
                                     gap_tolerance=gap_tolerance)
    no = eig.n_occ
    calc = ProjectorCalculus(eig.energies, no)

    dk = eig.to_eigenbasis(derivs.dk)
    du = eig.to_eigenbasis(derivs.du)
    dkdu = eig.to_eigenbasis(derivs.dkdu)

    d = interband_matrices(np.concatenate([dk, du])[:, :, no:, :no], eig.energies, no)
    dmap = dict(zip(("kx", "ky", "kz", "ux", "uy"), d))
    chern = second_chern_traces(dmap)
    born_charge = np.stack([np.stack([curvature_trace(d[i], d[3 + j]) for j in range(2)], -1)
                            for i in range(3)], -2)

    hk = [calc.split(dk[i]) for i in range(2)]
    hu = [calc.split(du[a]) for a in range(2)]
    hku = [[calc.split(dkdu[i, a]) for a in range(2)] for i in range(2)]
    pk = [calc.first_order(x) for x in hk]
    pu = [calc.first_order(x) for x in hu]
    total = total_integrand(calc, hk, hu, hku, pk, pu)

    return KResolved(chern["born_a"], chern["born_b"], chern["energy"], total,
                     curvature_trace(dmap["kx"], dmap["ky"]), born_charge, eig.direct_gap)
