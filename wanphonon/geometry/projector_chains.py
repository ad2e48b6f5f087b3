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

* commutator recursion, valid for the occupied-empty blocks,
  ``(E_m - E_n) C_q[m, n] = [C_{q-1}(X_1..X_{q-1}) X_q - X_1 C_{q-1}(X_2..X_q)][m, n]``;
* for q = 2 the diagonal blocks are products of first-order chains,
  ``C_2[oo] = -C_1(X)[ou] C_1(Y)[uo]``, ``C_2[uu] = C_1(X)[uo] C_1(Y)[ou]``.

Matrices are stored as their four blocks (occupied ``o``, empty ``u``), so a
product costs ~N^3/2 instead of N^3 at half filling.  Every array carries the
k-point index first; blocks have shapes ``(nk, n_o, n_o)``, ``(nk, n_o, n_u)``,
``(nk, n_u, n_o)``, ``(nk, n_u, n_u)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def trace_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``tr(x @ y)`` per k-point for stacks ``(nk, n, m)`` and ``(nk, m, n)``."""
    return np.einsum("kij,kji->k", x, y)


@dataclass(frozen=True)
class Blocks:
    """A matrix split into occupied/empty blocks; ``None`` marks a zero block."""

    oo: np.ndarray | None
    ou: np.ndarray | None
    uo: np.ndarray | None
    uu: np.ndarray | None

    @classmethod
    def split(cls, matrix: np.ndarray, n_occ: int) -> "Blocks":
        o, u = slice(0, n_occ), slice(n_occ, None)
        return cls(matrix[..., o, o], matrix[..., o, u], matrix[..., u, o], matrix[..., u, u])

    def __add__(self, other: "Blocks") -> "Blocks":
        return Blocks(*(_add(a, b) for a, b in zip(self.parts(), other.parts())))

    def __sub__(self, other: "Blocks") -> "Blocks":
        return Blocks(*(_add(a, _neg(b)) for a, b in zip(self.parts(), other.parts())))

    def __matmul__(self, other: "Blocks") -> "Blocks":
        a, b = self, other
        return Blocks(_add(_mul(a.oo, b.oo), _mul(a.ou, b.uo)),
                      _add(_mul(a.oo, b.ou), _mul(a.ou, b.uu)),
                      _add(_mul(a.uo, b.oo), _mul(a.uu, b.uo)),
                      _add(_mul(a.uo, b.ou), _mul(a.uu, b.uu)))

    def parts(self) -> tuple:
        return (self.oo, self.ou, self.uo, self.uu)

    def trace_with(self, other: "Blocks") -> np.ndarray:
        """``tr(self @ other)`` per k-point."""
        total = 0.0
        for a, b in ((self.oo, other.oo), (self.ou, other.uo), (self.uo, other.ou),
                     (self.uu, other.uu)):
            if a is not None and b is not None:
                total = total + trace_product(a, b)
        return total

    def occupied_trace_with(self, other: "Blocks") -> np.ndarray:
        """``tr(P self @ other)``: the trace restricted to occupied rows."""
        total = 0.0
        for a, b in ((self.oo, other.oo), (self.ou, other.uo)):
            if a is not None and b is not None:
                total = total + trace_product(a, b)
        return total


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _neg(a):
    return None if a is None else -a


def _mul(a, b):
    if a is None or b is None:
        return None
    return a @ b


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
        self.w_t = np.swapaxes(self.w, -1, -2)

    def split(self, matrix: np.ndarray) -> Blocks:
        return Blocks.split(matrix, self.n_occ)

    def first_order(self, x: Blocks) -> Blocks:
        """``C_1(X)``: ``[C_1]_{ar} = X_{ar}/(E_a - E_r)``, ``[C_1]_{ra} = X_{ra}/(E_a - E_r)``."""
        return Blocks(None, x.ou * self.w, x.uo * self.w_t, None)

    def resolve(self, m: Blocks) -> Blocks:
        """Off-diagonal blocks of ``C`` from ``(E_m - E_n) C[m, n] = M[m, n]``."""
        return Blocks(None, m.ou * self.w, -(m.uo * self.w_t), None)

    def second_order(self, x: Blocks, y: Blocks, c1x: Blocks, c1y: Blocks) -> Blocks:
        """``C_2(X, Y)`` (all four blocks), given ``c1x = C_1(X)`` and ``c1y = C_1(Y)``."""
        off_ou = (c1x.ou @ y.uu - x.oo @ c1y.ou) * self.w
        off_uo = -(c1x.uo @ y.oo - x.uu @ c1y.uo) * self.w_t
        return Blocks(-(c1x.ou @ c1y.uo), off_ou, off_uo, c1x.uo @ c1y.ou)
