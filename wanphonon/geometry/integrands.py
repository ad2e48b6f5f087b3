"""All k-resolved integrands of wanphonon for one batch of k-points.

:func:`evaluate` is the single entry point the engine calls: given the
derivatives of ``H(k)`` and its eigensystem (the occupation fixed and the gap
checked by the engine), it returns per-k values of

* ``born_a``, ``born_b``, ``energy``: the three traces of the second Chern form
  ``Tr Omega_{kx ky ux uy}`` (:mod:`.curvature`);
* ``total``: ``T(k)``, the integrand of ``chi_total`` (:mod:`.magnetization`);
* ``born_charge``: ``Tr Omega_{k_i u_j}``, shape ``(nk, 3, 2)``;
* ``ion_born_charge``: the same for every extra displacement channel (one ion
  of a multi-ion mode each, ``derivs.du_ions``), shape ``(nk, n_ion, 3, 2)``;
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
from .bands import Eigensystem
from .curvature import (centre_motion_curvature, centre_motion_total, curvature_trace,
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
    ion_born_charge: np.ndarray
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
    def zeros(cls, nk: int, n_ions: int = 0) -> "KResolved":
        return cls(*(np.zeros(nk) for _ in SCALAR_INTEGRANDS), np.zeros((nk, 3, 2)),
                   np.zeros((nk, n_ions, 3, 2)), np.full(nk, np.inf))

    @classmethod
    def concatenate(cls, parts: list["KResolved"]) -> "KResolved":
        """The k-points of several parts, in order."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def scatter(self, mask: np.ndarray, part: "KResolved") -> None:
        """Write ``part`` (the k-points where ``mask`` is true) into ``self``."""
        for f in fields(self):
            getattr(self, f.name)[mask] = getattr(part, f.name)


def evaluate(derivs: HamiltonianDerivatives, eig: Eigensystem) -> KResolved:
    """Evaluate every integrand on the batch, in the eigenbasis ``eig`` of ``derivs.H``.

    ``eig`` fixes the occupied manifold (any gauge: results do not depend on the
    choice of eigenvectors within degenerate levels).  Its direct gap must have
    been checked by the caller (the engine): every formula divides by it.
    """
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
    dz = dagger(calc.first_order(blocks(derivs.dk[2], ou_only=True)).ou) if derivs.dk[2].any() else None

    # interband matrices D_a[l, n] = <l|d_a H|n>/(E_n - E_l) = C_1(d_a H)[uo]
    d = {name: dagger(p.ou) for name, p in (("kx", pk[0]), ("ky", pk[1]), ("ux", pu[0]), ("uy", pu[1]))}
    v_occ = v[:, :, :no]
    weights = backend.einsum("kbn,kbn->kb", v_occ.conj(), v_occ).real   # occupied weight per orbital
    born_charge = _born_charge(d, dz, (d["ux"], d["uy"]), derivs.dpos, weights)
    total = total_integrand(calc, hk, hu, hku, pk, pu)
    if derivs.dpos is None:
        chern = second_chern_traces(d)
    else:
        chern = second_chern_traces(d, centre_motion_curvature(v_occ, derivs.dpos))
        total = total + centre_motion_total(v, vh, calc.w, hk, d, derivs.dpos, no)

    host = backend.to_numpy          # per-k results always come back to the host
    n_ion = 0 if derivs.du_ions is None else derivs.du_ions.shape[0]
    ion_born = np.zeros((derivs.nk, n_ion, 3, 2))
    for m in range(n_ion):
        du = [dagger(calc.first_order(blocks(derivs.du_ions[m, a], ou_only=True)).ou) for a in range(2)]
        ion_born[:, m] = host(_born_charge(d, dz, du, None if derivs.dpos_ions is None
                                           else derivs.dpos_ions[m], weights))

    return KResolved(host(chern["born_a"]), host(chern["born_b"]), host(chern["energy"]), host(total),
                     host(curvature_trace(d["kx"], d["ky"])), host(born_charge), ion_born, eig.direct_gap)


def _born_charge(d: dict, dz, du, dpos, weights) -> np.ndarray:
    """``Tr Omega_{k_i u_j}`` ``(nk, 3, 2)`` for the displacement channel ``du = (D_ux, D_uy)``.

    Moving centres ``dpos`` ``(2, 3, N)`` add ``-sum_b w_b(k) d tau_{b,i}/d u_j``.
    """
    out = backend.zeros((weights.shape[0], 3, 2), like=weights, dtype="real")
    for j in range(2):
        out[:, 0, j] = curvature_trace(d["kx"], du[j])
        out[:, 1, j] = curvature_trace(d["ky"], du[j])
        if dz is not None:
            out[:, 2, j] = curvature_trace(dz, du[j])
    if dpos is not None:
        out -= backend.einsum("kb,aib->kia", weights, dpos)
    return out
