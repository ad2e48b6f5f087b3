"""Finite-difference derivatives with respect to the phonon displacement u = (u_x, u_y).

A frozen-phonon calculation gives a quantity ``X`` (H(R), Wannier centres) at the
equilibrium structure and at displaced structures ``u_j``.  ``dX/du`` at u = 0 is
the linear coefficient of a polynomial fit of ``X(u_j) - X(0)`` in the monomials
``ux^p uy^q``:

* the monomials are taken in order of degree (1, 2, 3, 4) and a monomial joins
  the fit only if it is linearly independent of those already chosen on the
  given points, and while there are more points than chosen monomials or as many;
* +-delta along an axis then gives the central difference (the quadratic
  monomial absorbs the even part), +-delta and +-2 delta the fourth-order stencil
  ``(8 X(d) - 8 X(-d) - X(2d) + X(-2d)) / 12 d``, a single +delta the one-sided
  difference with the equilibrium run, and any other set of amplitudes a least-
  squares fit.

The result is a set of weights: ``dX/du_a = sum_j w[a, j] (X(u_j) - X(0))``.  Two
error indicators come with it:

* ``richardson``: where the fit reaches degree 3 or more, the same derivative from
  the degree <= 2 fit; the two differ by the truncation error of the lower order;
* ``asymmetry``: ``|X(+u) + X(-u) - 2 X(0)| / |X(+u) - X(-u)|`` for every
  +- pair, the relative size of the even (quadratic) response, which measures how
  far from linear the displacement is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

#: Monomials (p, q) of ux^p uy^q in the order in which they join the fit.
MONOMIALS = tuple((p, d - p) for d in range(1, 5) for p in range(d, -1, -1))


@dataclass(frozen=True)
class DerivativeStencil:
    """Weights of ``dX/du_a = sum_j weights[a, j] (X(u_j) - X(0))``.

    weights:     ``(2, n_runs)`` (1/A).
    low_order:   weights of the degree <= 2 fit where the full fit goes beyond it
                 (Richardson error estimate), else None.
    monomials:   the monomials (p, q) used by the fit.
    """

    displacements: np.ndarray
    weights: np.ndarray
    low_order: np.ndarray | None
    monomials: tuple

    @property
    def order(self) -> int:
        """Highest polynomial degree of the fit."""
        return max(p + q for p, q in self.monomials)

    def describe(self) -> dict:
        return {"displacements_A": self.displacements.tolist(), "weights_per_A": self.weights.tolist(),
                "fit_monomials": [f"ux^{p} uy^{q}" for p, q in self.monomials],
                "fit_degree": self.order,
                "richardson_available": self.low_order is not None}

    def apply(self, differences: np.ndarray) -> np.ndarray:
        """``dX/du`` ``(2, ...)`` from ``differences`` ``(n_runs, ...)`` = X(u_j) - X(0)."""
        return np.tensordot(self.weights, differences, axes=(1, 0))

    def error_estimate(self, differences: np.ndarray) -> dict:
        """Error indicators of ``dX/du`` (see module docstring), relative to ``|dX/du|``."""
        deriv = self.apply(differences)
        scale = float(np.linalg.norm(deriv)) or 1.0
        out: dict = {}
        if self.low_order is not None:
            low = np.tensordot(self.low_order, differences, axes=(1, 0))
            out["richardson_relative"] = float(np.linalg.norm(deriv - low)) / scale
        asym = []
        u = self.displacements
        for i in range(len(u)):
            for j in range(i + 1, len(u)):
                if np.allclose(u[i], -u[j]):
                    odd = np.linalg.norm(differences[i] - differences[j])
                    even = np.linalg.norm(differences[i] + differences[j])
                    if odd > 0:
                        asym.append({"u_A": u[i].tolist(), "asymmetry": float(even / odd)})
        if asym:
            out["asymmetry"] = asym
        return out


def _select_monomials(u: np.ndarray, max_degree: int) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    columns: list[np.ndarray] = []
    scale = np.max(np.abs(u))
    for p, q in MONOMIALS:
        if p + q > max_degree or len(chosen) == len(u):
            break
        col = (u[:, 0] / scale) ** p * (u[:, 1] / scale) ** q
        trial = np.column_stack(columns + [col])
        if np.linalg.matrix_rank(trial, tol=1e-9 * max(1.0, np.abs(trial).max())) == len(columns) + 1:
            chosen.append((p, q))
            columns.append(col)
    return chosen


def _linear_weights(u: np.ndarray, monomials: list[tuple[int, int]]) -> np.ndarray:
    a = np.column_stack([u[:, 0] ** p * u[:, 1] ** q for p, q in monomials])
    pinv = np.linalg.pinv(a)
    return pinv[[monomials.index((1, 0)), monomials.index((0, 1))]]


#: Largest displacement (A) accepted for a finite difference: beyond it the response is
#: not linear (and a value this large is usually given in the wrong unit).
MAX_DISPLACEMENT_A = 0.2


def stencil(displacements, *, source: str = "<config>") -> DerivativeStencil:
    """The finite-difference stencil for a set of displacements ``(n_runs, 2)`` in A."""
    u = np.asarray(displacements, dtype=float).reshape(-1, 2)
    norms = np.linalg.norm(u, axis=1)
    for j in np.flatnonzero(norms == 0):
        raise ConfigError(f"displacement {j + 1} has u = (0, 0): it is the equilibrium structure",
                          path=source, fix="give every [[displacement]] a nonzero u, e.g. [0.01, 0.0]")
    for j in np.flatnonzero(norms > MAX_DISPLACEMENT_A):
        raise ConfigError(f"displacement {j + 1} has |u| = {norms[j]:.4g} A: a finite difference needs "
                          f"small displacements (at most {MAX_DISPLACEMENT_A} A; typically 0.005-0.02 A)",
                          path=source, fix="give u in Angstrom (not in bohr or in lattice units) and "
                                           "use displaced runs of about 0.01 A")
    for i in range(len(u)):
        for j in range(i + 1, len(u)):
            if np.allclose(u[i], u[j], rtol=0, atol=1e-9):
                raise ConfigError(f"displacements {i + 1} and {j + 1} have the same u = {u[i].tolist()}",
                                  path=source, fix="each displaced run must have its own amplitude")
    monomials = _select_monomials(u, 4)
    if (1, 0) not in monomials or (0, 1) not in monomials:
        raise ConfigError("the displacements do not span both polarisation components (u_x and u_y)",
                          path=source,
                          fix="add displaced runs along the missing direction, e.g. u = [0, 0.01]")
    weights = _linear_weights(u, monomials)
    low = None
    if max(p + q for p, q in monomials) > 2:
        low_monomials = [m for m in monomials if sum(m) <= 2]
        low = _linear_weights(u, low_monomials)
    return DerivativeStencil(u, weights, low, tuple(monomials))
