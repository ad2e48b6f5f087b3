"""Contour-integral chains of the ground-state projector, in the eigenbasis.

For operators ``X_1 ... X_q`` the chain

    C_q(X_1, ..., X_q) = (1/2 pi i) oint dz G X_1 G X_2 ... G X_q G,
    G = (z - H)^-1, contour around the occupied levels,

is the building block of every projector derivative (theory.md, sec. 4-5):
``P = C_0``, ``d_a P = C_1(H_a)``, ``d_a d_b P = C_2(H_a, H_b) + C_2(H_b, H_a)
+ C_1(H_ab)``.  In the eigenbasis its elements are divided differences of the
occupation (theory.md sec. 5).  Instead of summing them explicitly (O(N^4) and
higher) we use two exact identities that never divide by a difference of two
occupied or two empty energies, so degenerate levels are handled exactly:

* the commutator recursion, valid for the occupied-empty blocks,
  ``(E_m - E_n) C_q[m, n] = [C_{q-1}(X_1..X_{q-1}) X_q - X_1 C_{q-1}(X_2..X_q)][m, n]``;
* for q = 2 the diagonal blocks are products of first-order chains,
  ``C_2[oo] = -C_1(X)[ou] C_1(Y)[uo]``, ``C_2[uu] = C_1(X)[uo] C_1(Y)[ou]``.

Matrices are stored as their occupied (``o``) / empty (``u``) blocks, and only
Hermitian or anti-Hermitian combinations are formed, so the ``uo`` block is
never computed (it is ``+-ou^dag``).  Every array carries the k-point index
first; blocks have shapes ``(nk, n_o, n_o)``, ``(nk, n_o, n_u)``, ``(nk, n_u, n_u)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import backend


def dagger(x: np.ndarray) -> np.ndarray:
    """Conjugate transpose of the last two axes."""
    return x.swapaxes(-1, -2).conj()


def trace_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``tr(x @ y)`` per k-point for stacks ``(nk, n, m)`` and ``(nk, m, n)``."""
    return backend.einsum("kij,kji->k", x, y)


@dataclass(frozen=True)
class Blocks:
    """A Hermitian (``sign=+1``) or anti-Hermitian (``sign=-1``) matrix by blocks.

    ``oo``, ``uu`` may be None for zero blocks; ``uo = sign * ou^dag``.
    """

    oo: np.ndarray | None
    ou: np.ndarray
    uu: np.ndarray | None
    sign: int = 1

    @property
    def uo(self) -> np.ndarray:
        return self.sign * dagger(self.ou)


def eigen_blocks(vectors: np.ndarray, vectors_h: np.ndarray, operator: np.ndarray, n_occ: int,
                 ou_only: bool = False) -> Blocks:
    """Blocks of ``V^dag X V`` for a Hermitian operator stack ``X`` ``(nk, N, N)``.

    ``vectors_h`` is the (contiguous) conjugate transpose of ``vectors``.
    ``ou_only`` skips the diagonal blocks.  ``X = 0`` (continuum models have
    ``d_k d_u H = 0``) gives zero blocks without any product.
    """
    o, u = slice(0, n_occ), slice(n_occ, None)
    if backend.first_is_zero(operator) and not operator.any():   # scan only if it may be 0
        nk, n = operator.shape[0], operator.shape[-1]
        zero = backend.zeros((nk, n, n), like=operator, dtype="complex")
        return Blocks(None if ou_only else zero[:, o, o], zero[:, o, u],
                      None if ou_only else zero[:, u, u])
    if ou_only:
        return Blocks(None, vectors_h[:, o] @ (operator @ vectors[:, :, u]), None)
    xv = operator @ vectors
    top = vectors_h[:, o] @ xv
    return Blocks(top[:, :, o], top[:, :, u], vectors_h[:, u] @ xv[:, :, u])


class ProjectorCalculus:
    """Chains ``C_1``, ``C_2`` and the resolvent map for one batch of k-points.

    ``energies`` are ascending per k-point, the first ``n_occ`` occupied.
    ``w[k, a, r] = 1 / (E_a - E_r)`` for occupied a, empty r: the only energy
    denominator that ever appears (bounded by the inverse direct gap).
    """

    def __init__(self, energies: np.ndarray, n_occ: int):
        self.n_occ = n_occ
        e_o = energies[:, :n_occ]
        e_u = energies[:, n_occ:]
        self.w = 1.0 / (e_o[:, :, None] - e_u[:, None, :])

    def first_order(self, x: Blocks) -> Blocks:
        """``C_1(X)`` (Hermitian): ``[C_1]_{ar} = X_{ar} / (E_a - E_r)``, zero diagonal blocks."""
        return Blocks(None, x.ou * self.w, None)

    def pair_second_order(self, x: Blocks, y: Blocks, c1x: Blocks, c1y: Blocks, sign: int,
                          extra: Blocks | None = None) -> Blocks:
        """``C_2(X, Y) + sign C_2(Y, X) [+ C_1(extra)]`` for Hermitian X, Y.

        ``sign = +1`` gives a Hermitian, ``-1`` an anti-Hermitian matrix.
        Off-diagonal block from the recursion, ``C_2[ou] = w (C_1(X) Y - X C_1(Y))[ou]``;
        diagonal blocks from ``C_2[oo] = -C_1(X)[ou] C_1(Y)[uo]``,
        ``C_2[uu] = C_1(X)[uo] C_1(Y)[ou]``.
        """
        m = c1x.ou @ y.uu - x.oo @ c1y.ou
        m += sign * (c1y.ou @ x.uu - y.oo @ c1x.ou)
        if extra is not None:
            m += extra.ou
        z_oo = c1x.ou @ dagger(c1y.ou)
        z_uu = dagger(c1x.ou) @ c1y.ou
        return Blocks(-(z_oo + sign * dagger(z_oo)), m * self.w, z_uu + sign * dagger(z_uu), sign)

    def resolve_ou(self, m_ou: np.ndarray) -> np.ndarray:
        """``C[ou]`` from ``(E_m - E_n) C[m, n] = M[m, n]``."""
        return m_ou * self.w


def product_ou(x: Blocks, y: Blocks) -> np.ndarray:
    """The occupied-empty block of ``x @ y``."""
    out = x.ou @ y.uu if y.uu is not None else None
    if x.oo is not None:
        t = x.oo @ y.ou
        out = t if out is None else out + t
    return out


def occupied_trace(x: Blocks, y: Blocks) -> np.ndarray:
    """``tr(P x y)`` per k-point: the trace over occupied rows."""
    total = trace_product(x.ou, y.uo)
    if x.oo is not None and y.oo is not None:
        total = total + trace_product(x.oo, y.oo)
    return total
