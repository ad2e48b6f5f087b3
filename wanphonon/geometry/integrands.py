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

Moving orbital positions (``derivs.dpos``, Wannier centres that follow the
ions) add ``-P d tau_i/d u_a P`` to ``Omega_{k_i u_a}``: it enters the Born
charge and the Born-charge terms of the second Chern form.  ``T(k)`` is
evaluated with the u-derivatives in the co-moving orbital basis, plus the
terms of :func:`.curvature.centre_motion_total` (the Aharonov-Bohm curvature of
the moving orbitals and the first-order-in-B change of d_u H); this reproduces
finite flakes whose orbitals move (docs/theory.md, "Moving Wannier centres").
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import backend
from .bands import DEFAULT_GAP_TOLERANCE, Eigensystem, check_gap, diagonalize
from .curvature import (centre_motion_curvature, centre_motion_total, curvature, curvature_trace,
                        second_chern_traces)
from .hamiltonian import HamiltonianDerivatives
from .magnetization import total_integrand
from .projector_chains import ProjectorCalculus, dagger, eigen_blocks

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
    eig = eigensystem or diagonalize(derivs.H, n_occ=n_occ, fermi_energy=fermi_energy)
    check_gap(eig, gap_tolerance)
    no = eig.n_occ
    calc = ProjectorCalculus(eig.energies, no)
    v = eig.vectors
    vh = backend.contiguous(dagger(v))

    def blocks(x, ou_only=False):
        return eigen_blocks(v, vh, x, no, ou_only)

    hk = [blocks(derivs.dk[i]) for i in range(2)]
    hu = [blocks(derivs.du[a]) for a in range(2)]
    hku = [[blocks(derivs.dkdu[i, a]) for a in range(2)] for i in range(2)]
    pk = [calc.first_order(x) for x in hk]
    pu = [calc.first_order(x) for x in hu]
    if derivs.dk[2].any():
        pkz = calc.first_order(blocks(derivs.dk[2], ou_only=True))
    else:
        pkz = None

    # interband matrices D_a[l, n] = <l|d_a H|n>/(E_n - E_l) = C_1(d_a H)[uo]
    d = {name: dagger(p.ou) for name, p in (("kx", pk[0]), ("ky", pk[1]), ("ux", pu[0]), ("uy", pu[1]))}
    chern = second_chern_traces(d)
    born_charge = backend.zeros((derivs.nk, 3, 2), like=eig.energies, dtype="real")
    for i, ki in enumerate(("kx", "ky")):
        for j, uj in enumerate(("ux", "uy")):
            born_charge[:, i, j] = curvature_trace(d[ki], d[uj])
    if pkz is not None:
        dz = dagger(pkz.ou)
        for j, uj in enumerate(("ux", "uy")):
            born_charge[:, 2, j] = curvature_trace(dz, d[uj])
    total = total_integrand(calc, hk, hu, hku, pk, pu)

    if derivs.dpos is not None:
        v_occ = v[:, :, :no]
        weights = backend.einsum("kbn,kbn->kb", v_occ.conj(), v_occ).real  # occupied weight per orbital
        born_charge -= backend.einsum("kb,aib->kia", weights, derivs.dpos)
        chern = second_chern_traces(d, centre_motion_curvature(v_occ, derivs.dpos))
        total = total + centre_motion_total(v, vh, calc.w, hk, d, derivs.dpos, no)

    host = backend.to_numpy          # per-k results always come back to the host
    return KResolved(host(chern["born_a"]), host(chern["born_b"]), host(chern["energy"]), host(total),
                     host(curvature_trace(d["kx"], d["ky"])), host(born_charge), eig.direct_gap)


def curvature_matrices(derivs: HamiltonianDerivatives, eig: Eigensystem) -> dict[tuple[str, str], np.ndarray]:
    """Non-Abelian curvatures ``Omega_ab`` ``(nk, n_occ, n_occ)`` in the gauge of ``eig.vectors``.

    Keys are pairs of parameter names among kx, ky, kz, ux, uy (``a < b`` in that
    order).  Matrices rotate as ``U^dag Omega U`` under a change of gauge; their
    traces and traces of products do not.
    """
    no = eig.n_occ
    calc = ProjectorCalculus(eig.energies, no)
    vh = backend.contiguous(dagger(eig.vectors))
    ops = {"kx": derivs.dk[0], "ky": derivs.dk[1], "kz": derivs.dk[2], "ux": derivs.du[0],
           "uy": derivs.du[1]}
    d = {name: dagger(calc.first_order(eigen_blocks(eig.vectors, vh, x, no, ou_only=True)).ou)
         for name, x in ops.items()}
    names = list(ops)
    return {(a, b): curvature(d[a], d[b]) for i, a in enumerate(names) for b in names[i + 1:]}
