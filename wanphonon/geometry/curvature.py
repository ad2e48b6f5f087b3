"""Non-Abelian Berry curvatures of the occupied manifold and the second Chern form.

Conventions (theory.md sec. 2-3, 8), with ``hbar = e = 1``:

* interband matrices ``D_a[l, n] = <l| d_a H |n> / (E_n - E_l)`` for empty l,
  occupied n, parameters ``a`` in (kx, ky, kz, ux, uy);
* curvature ``Omega_ab = i (D_a^dag D_b - D_b^dag D_a)``, an ``n_occ x n_occ``
  Hermitian matrix that rotates as ``U^dag Omega U`` under a gauge change;
* second Chern form ``Tr Omega_{kx ky ux uy} = born_a + born_b + energy`` with
  ``born_a = Tr[Omega_{kx uy} Omega_{ky ux}]``,
  ``born_b = -Tr[Omega_{kx ux} Omega_{ky uy}]``,
  ``energy = Tr[Omega_{kx ky} Omega_{ux uy}]``: traces of matrix products, which
  are gauge invariant (band-diagonal products are not);
* Born-charge integrand ``Tr Omega_{k_i u_j}`` (dimensionless).

Units: ``Omega_{k k}`` in Angstrom^2, ``Omega_{k u}`` dimensionless,
``Omega_{u u}`` in 1/Angstrom^2.
"""

from __future__ import annotations

import numpy as np

from . import backend
from .projector_chains import Blocks, dagger, trace_product

def curvature(d_a: np.ndarray, d_b: np.ndarray) -> np.ndarray:
    """``Omega_ab = i (D_a^dag D_b - D_b^dag D_a)``, shape ``(nk, n_o, n_o)``."""
    x = dagger(d_a) @ d_b
    return 1j * (x - dagger(x))


def curvature_trace(d_a: np.ndarray, d_b: np.ndarray) -> np.ndarray:
    """``Tr Omega_ab = -2 Im tr(D_a^dag D_b)`` per k-point, without forming Omega."""
    return -2.0 * backend.einsum("kli,kli->k", d_a.conj(), d_b).imag


def second_chern_traces(d: dict[str, np.ndarray],
                        shift: dict[tuple[str, str], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The three gauge-invariant traces of the second Chern form per k-point.

    ``d`` maps parameter names (kx, ky, ux, uy) to ``D_a`` stacks.  ``shift``
    adds matrices to individual curvatures (the centre-motion term of
    ``Omega_{k u}``, see :func:`centre_motion_curvature`).
    """
    om = {pair: curvature(d[pair[0]], d[pair[1]])
          for pair in (("kx", "uy"), ("ky", "ux"), ("kx", "ux"), ("ky", "uy"),
                       ("kx", "ky"), ("ux", "uy"))}
    for pair, extra in (shift or {}).items():
        om[pair] = om[pair] + extra
    born_a = trace_product(om["kx", "uy"], om["ky", "ux"]).real
    born_b = -trace_product(om["kx", "ux"], om["ky", "uy"]).real
    energy = trace_product(om["kx", "ky"], om["ux", "uy"]).real
    return {"born_a": born_a, "born_b": born_b, "energy": energy}


def centre_motion_curvature(vectors_occ: np.ndarray, dpos: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """The term ``-P d tau_i/d u_a P`` of ``Omega_{k_i u_a}`` from moving orbital positions.

    With the position operator diagonal in the orbital basis, the Berry
    connection in k contains ``<m| tau |n>``; when the orbitals move with the
    ions (``tau(u)``) the curvature ``Omega_{k_i u_a}`` gains
    ``-<m| d tau_i/d u_a |n>``.  In the atomic limit this is the electron that
    follows its ion (Born charge -1 per electron).  ``vectors_occ``:
    ``(nk, N, n_occ)``; ``dpos``: ``(2, 3, N)``.  Returns matrices for (k_i, u_a)
    with i = x, y.
    """
    out = {}
    for a, ua in enumerate(("ux", "uy")):
        for i, ki in enumerate(("kx", "ky")):
            out[ki, ua] = -(dagger(vectors_occ) @ (dpos[a, i][:, None] * vectors_occ))
    return out


def _diagonal_blocks(vectors: np.ndarray, vectors_h: np.ndarray, diag: np.ndarray, n_occ: int) -> Blocks:
    """Eigenbasis blocks of the k-independent diagonal operator ``diag(d)`` of the orbital basis."""
    dv = vectors * diag[None, :, None]
    top = vectors_h[:, :n_occ] @ dv
    return Blocks(top[:, :, :n_occ], top[:, :, n_occ:], vectors_h[:, n_occ:] @ dv[:, :, n_occ:])


def centre_motion_total(vectors: np.ndarray, vectors_h: np.ndarray, w: np.ndarray, hk: list[Blocks],
                        d: dict[str, np.ndarray], dpos: np.ndarray, n_occ: int) -> np.ndarray:
    """What Wannier centres moving with the ions add to the integrand ``T(k)`` of chi_total.

    Orbitals that follow the ions are magnetic translations of fixed orbitals; in a
    field they carry an Aharonov-Bohm Berry connection and their Peierls phases
    change with the displacement.  To first order in B this adds, per k-point
    (docs/theory.md, "Moving Wannier centres"; checked against finite flakes in
    tests/test_moving_centres.py):

    * ``-sum_b w_b(k) det(d tau_b/du)``: the Berry curvature of the moving basis,
      ``w_b`` the occupied weight on orbital b (an electron rigidly following its
      ion: -1 per electron);
    * ``Tr Omega(Q_x, u_y) + Tr Omega(u_x, Q_y)``: curvature cross terms of the
      displacement with the operator ``Q_a = -(1/2) eps_lm {d_{k_l} H, d tau_m/du_a}``
      (velocity times centre motion; ``eps_xy = 1``), entering d_u H at first order in B.

    ``w`` is the energy-denominator array ``1/(E_o - E_u)``, ``hk`` the eigenbasis blocks
    of ``d_kx H``, ``d_ky H``, ``d`` the interband matrices ``D_ux``, ``D_uy``,
    ``dpos[a, i, b] = d tau_{b,i} / d u_a``.
    """
    v_occ = vectors[:, :, :n_occ]
    weights = backend.einsum("kbn,kbn->kb", v_occ.conj(), v_occ).real
    det = dpos[0, 0] * dpos[1, 1] - dpos[0, 1] * dpos[1, 0]
    out = -weights @ det
    d_q = []
    for a in range(2):
        # Q_a[ou] = -(1/2) ({H_x, T_ay} - {H_y, T_ax})[ou],  T_am = diag(d tau_m / d u_a)
        q = 0.0
        for l, m, sign in ((0, 1, 1.0), (1, 0, -1.0)):
            t = _diagonal_blocks(vectors, vectors_h, dpos[a, m], n_occ)
            h = hk[l]
            anti = h.oo @ t.ou + h.ou @ t.uu + t.oo @ h.ou + t.ou @ h.uu
            q = q - 0.5 * sign * anti
        d_q.append(dagger(q * w))
    return out + curvature_trace(d_q[0], d["uy"]) + curvature_trace(d["ux"], d_q[1])
