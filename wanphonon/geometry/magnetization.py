"""Integrand ``T(k)`` of the total orbital response ``chi_total`` (theory.md sec. 4-6).

    chi_total = int [dk] T(k),
    T = i tr(P^B [P_x, P_y]) + i tr(P [P^B_x, P_y]) + i tr(P [P_x, P^B_y])
        + (1/2) eps_ij tr(P (P_{ix} P_{jy} - P_{iy} P_{jx})),

where ``P_a = d_{u_a} P``, ``P_{ia} = d_{k_i} d_{u_a} P`` and ``P^B`` is the
first-order magnetic correction of the projector symbol,
``P^B = -(i/2) eps_ij C_2(H_i, H_j)``.  Its u-derivative contains third-order
chains; only its occupied-empty blocks enter ``T`` and those follow from the
commutator recursion of :mod:`.projector_chains`:

    P^B_a[off] = -(i/2) R( [A, H_a] + eps_ij (P_ia H_j - H_i P_ja + P_i H_ja - H_ia P_j) ),
    A = C_2(H_x, H_y) - C_2(H_y, H_x),   R(M)[m, n] = M[m, n] / (E_m - E_n),

with ``P_i = C_1(H_i)`` (k-derivatives) and ``H_ia = d_{k_i} d_{u_a} H``.
``T`` needs ``H, d_k H, d_u H, d_k d_u H`` only; it is invariant under unitary
rotations inside degenerate subspaces and under changes of the orbital basis.
Units: 1/Angstrom^2 per (1/Angstrom)^2 of k-space, i.e. ``T`` is in Angstrom^0
times the measure: ``int d^2k/(2 pi)^2 T`` has units 1/Angstrom^2.
"""

from __future__ import annotations

import numpy as np

from .projector_chains import Blocks, ProjectorCalculus


def total_integrand(calc: ProjectorCalculus, hk: list[Blocks], hu: list[Blocks],
                    hku: list[list[Blocks]], pk: list[Blocks], pu: list[Blocks]) -> np.ndarray:
    """``T(k)`` per k-point.

    hk:  ``[d_kx H, d_ky H]`` in the eigenbasis, as blocks.
    hu:  ``[d_ux H, d_uy H]``.
    hku: ``hku[i][a] = d_{k_i} d_{u_a} H``.
    pk, pu: first-order chains ``C_1`` of ``hk`` and ``hu``.
    """
    # A = C2(Hx, Hy) - C2(Hy, Hx); P^B = -(i/2) A.
    a_mat = (calc.second_order(hk[0], hk[1], pk[0], pk[1])
             - calc.second_order(hk[1], hk[0], pk[1], pk[0]))
    # P_ia = C2(H_i, H_a) + C2(H_a, H_i) + C1(H_ia).
    p_ku = [[calc.second_order(hk[i], hu[a], pk[i], pu[a])
             + calc.second_order(hu[a], hk[i], pu[a], pk[i])
             + calc.first_order(hku[i][a]) for a in range(2)] for i in range(2)]

    # Occupied-empty blocks of d_{u_a} P^B.
    pb_u = []
    for a in range(2):
        m = (a_mat @ hu[a] - hu[a] @ a_mat
             + p_ku[0][a] @ hk[1] - hk[0] @ p_ku[1][a] + pk[0] @ hku[1][a] - hku[0][a] @ pk[1]
             - p_ku[1][a] @ hk[0] + hk[1] @ p_ku[0][a] - pk[1] @ hku[0][a] + hku[1][a] @ pk[0])
        r = calc.resolve(m)
        pb_u.append(Blocks(None, -0.5j * r.ou, -0.5j * r.uo, None))

    # i tr(P^B [P_x, P_y]) = (1/2) tr(A [P_x, P_y]); the commutator is block diagonal.
    comm = Blocks(pu[0].ou @ pu[1].uo - pu[1].ou @ pu[0].uo, None, None,
                  pu[0].uo @ pu[1].ou - pu[1].uo @ pu[0].ou)
    term1 = 0.5 * a_mat.trace_with(comm)
    # i tr(P^B_x [P_y, P]) with [P_y, P] = (-P_y[ou], +P_y[uo]) off the diagonal.
    term2 = 1j * (pb_u[0].trace_with(Blocks(None, -pu[1].ou, pu[1].uo, None)))
    # i tr(P^B_y [P, P_x]).
    term3 = 1j * (pb_u[1].trace_with(Blocks(None, pu[0].ou, -pu[0].uo, None)))
    # (1/2) tr(P (P_xx P_yy + P_yy P_xx - P_xy P_yx - P_yx P_xy)), P_ia = p_ku[i][a].
    term4 = 0.5 * (p_ku[0][0].occupied_trace_with(p_ku[1][1])
                   + p_ku[1][1].occupied_trace_with(p_ku[0][0])
                   - p_ku[0][1].occupied_trace_with(p_ku[1][0])
                   - p_ku[1][0].occupied_trace_with(p_ku[0][1]))
    return (term1 + term2 + term3 + term4).real
