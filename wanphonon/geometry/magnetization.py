"""Integrand ``T(k)`` of the total orbital response ``chi_total`` (theory.md sec. 4-6).

    chi_total = int [dk] T(k),
    T = i tr(P^B [P_x, P_y]) + i tr(P [P^B_x, P_y]) + i tr(P [P_x, P^B_y])
        + (1/2) eps_ij tr(P (P_{ix} P_{jy} - P_{iy} P_{jx})),

where ``P_a = d_{u_a} P``, ``P_{ia} = d_{k_i} d_{u_a} P`` and ``P^B`` is the
first-order magnetic correction of the projector symbol,
``P^B = -(i/2) eps_ij C_2(H_i, H_j)``.  Its u-derivative contains third-order
chains; only its occupied-empty block enters ``T`` and it follows from the
commutator recursion of :mod:`.projector_chains`:

    P^B_a[ou] = -(i/2) w [ [A, H_a] + eps_ij (P_ia H_j - H_i P_ja + P_i H_ja - H_ia P_j) ][ou],
    A = C_2(H_x, H_y) - C_2(H_y, H_x)  (anti-Hermitian, P^B = -(i/2) A),

with ``P_i = C_1(H_i)`` (k-derivatives), ``H_ia = d_{k_i} d_{u_a} H`` and
``w = 1/(E_o - E_u)``.  ``T`` needs ``H, d_k H, d_u H, d_k d_u H`` only; it is
invariant under unitary rotations inside degenerate subspaces and under
changes of the orbital basis.  Units: ``int d^2k/(2 pi)^2 T`` is in 1/A^2.
"""

from __future__ import annotations

import numpy as np

from . import backend
from .projector_chains import Blocks, ProjectorCalculus, dagger, occupied_trace, product_ou


def total_integrand(calc: ProjectorCalculus, hk: list[Blocks], hu: list[Blocks],
                    hku: list[list[Blocks]], pk: list[Blocks], pu: list[Blocks]) -> np.ndarray:
    """``T(k)`` per k-point.

    hk:  ``[d_kx H, d_ky H]`` in the eigenbasis, as blocks.
    hu:  ``[d_ux H, d_uy H]``.
    hku: ``hku[i][a] = d_{k_i} d_{u_a} H``.
    pk, pu: first-order chains ``C_1`` of ``hk`` and ``hu``.
    """
    a_mat = calc.pair_second_order(hk[0], hk[1], pk[0], pk[1], -1)
    # P_ia = C2(H_i, H_a) + C2(H_a, H_i) + C1(H_ia)
    p_ku = [[calc.pair_second_order(hk[i], hu[a], pk[i], pu[a], +1, extra=hku[i][a])
             for a in range(2)] for i in range(2)]

    # i tr(P^B [P_x, P_y]) = (1/2) tr(A [P_x, P_y]); the commutator is block diagonal,
    # [P_x, P_y]_oo = Z - Z^dag with Z = P_x[ou] P_y[uo], likewise for uu.
    z_oo = pu[0].ou @ dagger(pu[1].ou)
    z_uu = dagger(pu[0].ou) @ pu[1].ou
    term = 0.5 * (backend.einsum("kij,kji->k", a_mat.oo, z_oo - dagger(z_oo))
                  + backend.einsum("kij,kji->k", a_mat.uu, z_uu - dagger(z_uu)))

    for a, b, sign in ((0, 1, 1.0), (1, 0, -1.0)):
        # M_a[ou]; P^B_a[ou] = -(i/2) w M_a[ou] and P^B_a is Hermitian.
        m = product_ou(a_mat, hu[a]) - product_ou(hu[a], a_mat)
        m += product_ou(p_ku[0][a], hk[1]) - product_ou(hk[0], p_ku[1][a])
        m -= product_ou(p_ku[1][a], hk[0]) - product_ou(hk[1], p_ku[0][a])
        m += pk[0].ou @ hku[1][a].uu - hku[0][a].oo @ pk[1].ou
        m -= pk[1].ou @ hku[0][a].uu - hku[1][a].oo @ pk[0].ou
        pb_ou = -0.5j * calc.resolve_ou(m)
        # a = x: i tr(P^B_x [P_y, P]);  a = y: i tr(P^B_y [P, P_x]) = -i tr(P^B_y [P_x, P]).
        # With [P_b, P] = (-P_b[ou], +P_b[uo]) off the diagonal and t = tr(P^B_a[ou] P_b[uo]):
        # i tr(P^B_a [P_b, P]) = i (t - conj t) = -2 Im t.
        t = backend.einsum("kij,kij->k", pb_ou, pu[b].ou.conj())
        term = term + sign * (-2.0 * t.imag)

    # (1/2) tr(P (P_xx P_yy + P_yy P_xx - P_xy P_yx - P_yx P_xy)),  P_ia = p_ku[i][a]
    term = term + 0.5 * (occupied_trace(p_ku[0][0], p_ku[1][1]) + occupied_trace(p_ku[1][1], p_ku[0][0])
                         - occupied_trace(p_ku[0][1], p_ku[1][0]) - occupied_trace(p_ku[1][0], p_ku[0][1]))
    return term.real
