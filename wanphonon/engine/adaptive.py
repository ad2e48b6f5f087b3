"""Adaptive integration over the Brillouin zone of lattice systems ([kmesh] tolerance).

The zone is the unit box of reduced coordinates ``[0, 1)^d`` (d = 2: the plane of
the first two reciprocal vectors; d = 3: the whole zone).  It is covered by boxes
(*cells*) that start as a uniform ``seed`` division and are halved along one axis
at a time.  Every cell carries the Genz-Malik rule (Genz & Malik 1980, the rule of
``hcubature``): a degree-7 rule on ``2^d + 2 d^2 + 2 d + 1`` points (17 in 2D, 33
in 3D) with an embedded degree-5 rule on the same points.  The value of a cell is the
degree-7 result ``Q7``; the integral is the sum of ``Q7`` over the current cells.

Error estimate (null rules, after Berntsen, Espelid & Genz, ACM TOMS 17 (1991) 437).
On the same points sit a degree-3 rule ``Q3`` (centre plus Laplacian from the inner axis
points) and the degree-1 midpoint rule ``Q1`` (:class:`GenzMalik`), so that

    N5 = Q7 - Q5,   N3 = Q5 - Q3,   N1 = Q3 - Q1

are null rules of degrees 5, 3 and 1 (zero on every polynomial of that degree).  Divided
by the 1-norms of their weights they are comparable: ``E_k = |N_k| / ||n_k||_1``, in the
units of the integral (volume included).  For an integrand resolved by the cell they fall
off geometrically, ``E5 / E3 ~ E3 / E1 ~ (h / l)^2`` (h the cell size, l the length on
which the integrand varies), and the error of ``Q7`` is smaller than ``E5`` by about that
ratio again.  Per cell and per term

    r   = min(1, max(E5 / E3, E3 / E1))
    err = max(c * r * max(E5, r * E3, r^2 * E1),  r^4 * |N5|),     c = NULL_RULE_SAFETY = 1.5.

In the asymptotic regime (r << 1) this is ``c * r * E5``, the degree-5 null value scaled
down by the observed rate of decrease; the terms ``r * E3`` and ``r^2 * E1`` (the
degree-5 value predicted from the lower ones) keep an accidental zero of the single
degree-5 null rule from giving a small estimate; where the null values do not decrease
(r = 1: the cell does not resolve the integrand) it is at least the plain ``|Q7 - Q5|``
(``r^4 * |N5|``, negligible for r << 1, keeps it so as r approaches 1).  A
term's ``N_k`` are the same combination of the base quantities' (the rules are linear);
the estimate is then taken per term.  The reported error of a term is the sum of its
cells' estimates, in the units of the integral: an estimate of ``|sum Q7 - exact|``, not
a bound (``docs/performance.md``; ``benchmarks/adaptive_honesty.py`` measures it against
converged uniform references).

Refinement proceeds in *levels*.  After each level the cells whose errors on
chi total are largest are split (the fewest whose errors add up to the excess
over 0.8 of the target, ``tolerance * |chi_total|``, or ``tolerance * 1e-6 int |T|``
where chi total cancels), along the axis with the
largest fourth difference of the integrand; so are the cells that do not
resolve the direct gap: ``max gap / min gap > GAP_RATIO`` over the cell's points
(a Dirac pocket of gap Delta has width ~ Delta / v; a cell that spans a much
wider range of gaps is too coarse to trust its error estimate), halved along
their longest Cartesian edge.  It stops when the summed error on chi total is
below ``tolerance * |chi_total|`` and no cell is unresolved, or when the next
level would exceed ``max_points`` evaluated k-points (then ``converged`` is
false in the report).

Determinism: the cells of a level are listed in a fixed order (children after
the cells they replace, in parent order) and cut into batches of a fixed number
of cells, independent of the number of MPI ranks; batches are dealt round-robin,
rank 0 gathers and broadcasts the per-cell rows of the level and every rank takes
the same refinement decision from the same numbers.  Results are identical for
any number of ranks.  After every level rank 0 checkpoints the cells and their
rows (``<checkpoint dir>/adaptive.npz``, atomic); ``--resume`` continues from
the last finished level.  Memory: k-point arrays are bounded by the batch; the
per-cell table (52 numbers per cell, plus 6 per ion) grows with the number of cells.

With the adiabatic cutoff, k-points whose gap is below the phonon energy carry
zero integrand; the excluded measure is estimated per cell from the share of its
points that are excluded.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, GapClosedError, WanphononError
from .grids import KBatch, UniformGrid
from .integrate import Integrals, Occupation, evaluate_batch
from .parallel import SerialComm

log = logging.getLogger("wanphonon")

#: A cell whose largest direct gap exceeds this multiple of its smallest is refined.
GAP_RATIO = 3.0
#: No cell is halved more than this many times along one axis (2^-40 of the zone).
MAX_DEPTH = 40
#: Default k-point budget of an adaptive run.
DEFAULT_MAX_POINTS = 20_000_000
#: Default seed cells per reduced direction.
DEFAULT_SEED = {2: (8, 8, 1), 3: (4, 4, 4)}

#: Base quantities per k-point (per spin): the five scalar integrands and Tr Omega_{k_i u_j}.
BASE = ("born_a", "born_b", "energy", "total", "berry_curvature",
        "Z_xx", "Z_xy", "Z_yx", "Z_yy", "Z_zx", "Z_zy")
#: Quantities whose errors are reported: every chi term, the Berry curvature, the Born charge.
ERROR_TERMS = ("born_a", "born_b", "born", "energy", "topological", "nontopological", "total",
               "berry_curvature", "Z_xx", "Z_xy", "Z_yx", "Z_yy", "Z_zx", "Z_zy")
_NB = len(BASE)
_TOTAL = BASE.index("total")


def _error_map() -> np.ndarray:
    """``(len(BASE), len(ERROR_TERMS))``: each reported term as a combination of the base ones."""
    m = np.zeros((_NB, len(ERROR_TERMS)))
    combos = {"born": ("born_a", "born_b"), "topological": ("born_a", "born_b", "energy")}
    for j, term in enumerate(ERROR_TERMS):
        if term in BASE:
            m[BASE.index(term), j] = 1.0
        elif term in combos:
            m[[BASE.index(t) for t in combos[term]], j] = 1.0
        else:  # nontopological = total - topological
            m[BASE.index("total"), j] = 1.0
            m[[BASE.index(t) for t in combos["topological"]], j] = -1.0
    return m


_ERROR_MAP = _error_map()

#: Safety factor c of the error estimate (module docstring).
NULL_RULE_SAFETY = 1.5

# Per-cell row: Q7 of BASE, the three null-rule values of BASE (GenzMalik.null_rules), then these.
_C_Q7, _C_NULL = 0, _NB
_C_MIN_GAP = 4 * _NB
_C_MIN_K = _C_MIN_GAP + 1          # three Cartesian components
_C_MAX_GAP = _C_MIN_K + 3
_C_EXCL = _C_MAX_GAP + 1           # share of the cell's points excluded by the cutoff
_C_BELOW = _C_EXCL + 1             # share with gap below the phonon energy
_C_AXIS = _C_BELOW + 1             # split axis from the fourth differences
N_CELL_COLUMNS = _C_AXIS + 1


@dataclass(frozen=True)
class GenzMalik:
    """The Genz-Malik rule on ``[-1, 1]^d`` with its embedded lower-degree rules.

    Weights are normalised to sum to 1 (they give the mean over the cell; times the
    cell volume, the integral).  On the same points:

    * ``w7``: the Genz-Malik degree-7 rule (the value);
    * ``w5``: its embedded degree-5 rule (no weight on the corner points);
    * ``w3``: a degree-3 rule, ``f(0) + (1/6) sum_i [f(l2 e_i) + f(-l2 e_i) - 2 f(0)] / l2^2``
      (the centre plus the Laplacian from central differences on the inner axis points);
    * ``w1``: the centre alone (degree 1).

    ``w7 - w5``, ``w5 - w3`` and ``w3 - w1`` are null rules of degrees 5, 3 and 1 (they
    integrate every polynomial of that degree to zero); :meth:`error` turns their values into
    the error estimate of the degree-7 value.
    ``axis_points[i] = (+l2, -l2, +l3, -l3)``: indices of the points on axis i used
    for the fourth difference.
    """

    nodes: np.ndarray        # (n, d)
    w7: np.ndarray           # (n,)
    w5: np.ndarray           # (n,)
    w3: np.ndarray           # (n,)
    w1: np.ndarray           # (n,)
    axis_points: np.ndarray  # (d, 4)

    @classmethod
    def build(cls, d: int) -> "GenzMalik":
        l2, l3, l4, l5 = math.sqrt(9 / 70), math.sqrt(9 / 10), math.sqrt(9 / 10), math.sqrt(9 / 19)
        eye = np.eye(d)
        nodes = [np.zeros(d)]
        w7 = [(12824 - 9120 * d + 400 * d * d) / 19683]
        w5 = [(729 - 950 * d + 50 * d * d) / 729]
        axis = np.zeros((d, 4), int)
        for i in range(d):
            for j, (lam, a7, a5) in enumerate(((l2, 980 / 6561, 245 / 486),
                                               (l3, (1820 - 400 * d) / 19683, (265 - 100 * d) / 1458))):
                for s in (1, -1):
                    axis[i, 2 * j + (s < 0)] = len(nodes)
                    nodes.append(s * lam * eye[i])
                    w7.append(a7)
                    w5.append(a5)
        for i in range(d):
            for j in range(i + 1, d):
                for si in (1, -1):
                    for sj in (1, -1):
                        nodes.append(l4 * (si * eye[i] + sj * eye[j]))
                        w7.append(200 / 19683)
                        w5.append(25 / 729)
        for signs in np.array(np.meshgrid(*[[1, -1]] * d, indexing="ij")).reshape(d, -1).T:
            nodes.append(l5 * signs)
            w7.append(6859 / 19683 / 2 ** d)
            w5.append(0.0)
        w1 = np.zeros(len(nodes))
        w1[0] = 1.0
        w3 = w1.copy()
        w3[axis[:, :2]] = 1 / (6 * l2 ** 2)
        w3[0] -= 2 * d / (6 * l2 ** 2)
        return cls(np.array(nodes), np.array(w7), np.array(w5), w3, w1, axis)

    @property
    def n(self) -> int:
        return len(self.w7)

    def null_rules(self) -> np.ndarray:
        """``(3, n)``: the null rules ``w7 - w5``, ``w5 - w3``, ``w3 - w1`` (degrees 5, 3, 1)."""
        return np.stack([self.w7 - self.w5, self.w5 - self.w3, self.w3 - self.w1])

    def error(self, nulls: np.ndarray) -> np.ndarray:
        """The error estimate of the degree-7 value from the null-rule values (module docstring).

        ``nulls``: ``(3, ...)``, the values of :meth:`null_rules` (integral units, i.e. cell
        volume included).  Returns ``(...)`` in the same units.
        """
        norms = np.abs(self.null_rules()).sum(axis=1)
        e5, e3, e1 = (np.abs(nulls[k]) / norms[k] for k in range(3))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.fmax(np.where(e5 > 0, e5 / e3, 0.0), np.where(e3 > 0, e3 / e1, 0.0))
        r = np.minimum(r, 1.0)
        est = NULL_RULE_SAFETY * r * np.maximum(np.maximum(e5, r * e3), r * r * e1)
        # where the null values do not fall off (r -> 1) the cell is not resolved: never less
        # than the plain |Q7 - Q5| there (r^4 keeps the estimate continuous in r)
        return np.maximum(est, r ** 4 * np.abs(nulls[0]))


class AdaptiveGrid:
    """The adaptive integration of a lattice system's zone (see the module docstring).

    lattice: ``(3, 3)`` real-space rows (A); dimension 2 or 3.
    seed: cells per reduced direction at the start (``seed[2] = 1`` in 2D).
    tolerance: relative error asked for on chi total.
    max_points: k-point budget.  batch_size: k-points per batch (whole cells).
    survey: the uniform grid of ``[kmesh] size``, on which ``wanphonon check`` and
    ``wanphonon plot`` survey the gap (not used by the integration).
    """

    def __init__(self, lattice, dimension: int, seed, tolerance: float,
                 max_points: int = DEFAULT_MAX_POINTS, batch_size: int = 4096, survey=None):
        self.survey = survey
        self.lattice = np.asarray(lattice, float)
        self.dimension = int(dimension)
        self.seed = tuple(int(s) for s in seed)
        self.tolerance = float(tolerance)
        self.max_points = int(max_points)
        self.reciprocal = 2 * np.pi * np.linalg.inv(self.lattice).T
        if self.dimension == 2:
            self.cell_measure = float(np.linalg.norm(np.cross(self.lattice[0], self.lattice[1])))
        else:
            self.cell_measure = float(abs(np.linalg.det(self.lattice)))
        self.rule = GenzMalik.build(self.dimension)
        self.cells_per_batch = max(1, int(batch_size) // self.rule.n)
        # Cartesian length of one reduced unit along each axis (1/A)
        self.axis_length = np.linalg.norm(self.reciprocal[:self.dimension], axis=1)

    def seed_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres and half-widths ``(n, d)`` (reduced) of the seed division, C order."""
        n = np.array(self.seed[:self.dimension])
        idx = np.stack(np.meshgrid(*[np.arange(m) for m in n], indexing="ij"), -1).reshape(-1, self.dimension)
        half = np.broadcast_to(0.5 / n, idx.shape).copy()
        return (idx + 0.5) / n, half

    def weight(self, half: np.ndarray) -> np.ndarray:
        """``(n,)``: each cell's share of ``int d^dk/(2 pi)^d`` (its reduced volume over the
        zone's measure, 1/A^d), the factor that turns a rule's mean into the cell's integral."""
        return np.prod(2 * half, axis=1) / self.cell_measure

    def cell_batch(self, index: int, centres: np.ndarray, half: np.ndarray) -> KBatch:
        """The rule's points of the cells ``centres``/``half`` as one batch (cell-major).

        Weights: Q7 weights times the cell volume over the zone's measure, so that
        ``sum(weights * f) = int d^dk/(2 pi)^d f`` over these cells.
        """
        d = self.dimension
        k_red = (centres[:, None, :] + half[:, None, :] * self.rule.nodes[None]).reshape(-1, d)
        if d == 2:
            k_red = np.concatenate([k_red, np.zeros((len(k_red), 1))], axis=1)
        vol = self.weight(half)
        weights = (vol[:, None] * self.rule.w7[None]).ravel()
        return KBatch(index, k_red @ self.reciprocal, weights)

    def describe(self) -> dict:
        return {"kind": "adaptive", "seed": list(self.seed), "tolerance": self.tolerance,
                "max_points": self.max_points,
                "rule": "Genz-Malik degree 7, error from null rules of degrees 5, 3, 1",
                "points_per_cell": self.rule.n, "dimension": self.dimension,
                "cell_measure": self.cell_measure}


def survey_grid(grid):
    """The uniform grid on which to survey the gap: an adaptive grid's ``[kmesh] size`` mesh."""
    return grid.survey if isinstance(grid, AdaptiveGrid) else grid


def adaptive_grid(kmesh, uniform, path: str | None = None) -> AdaptiveGrid:
    """The :class:`AdaptiveGrid` asked for by ``[kmesh] tolerance`` on the zone of ``uniform``.

    ``uniform`` is the :class:`~wanphonon.engine.grids.UniformGrid` the configuration
    would otherwise use (it fixes the lattice and whether the system is 2D).
    """
    if not isinstance(uniform, UniformGrid):
        raise ConfigError("[kmesh] tolerance (adaptive integration) applies to lattice models and "
                          "Wannier input only", path=path,
                          fix="remove [kmesh] tolerance for continuum models (their polar grids "
                              "are set by [integration] order/angles)")
    dim = uniform.dimension
    seed = list(kmesh.seed or DEFAULT_SEED[dim])
    if (seed[2] == 1) != (dim == 2):
        raise ConfigError(f"[kmesh] seed = {seed}: the last entry must be 1 exactly for a 2D system "
                          f"(this one is {dim}D)", path=path, fix=f"e.g. seed = {list(DEFAULT_SEED[dim])}")
    return AdaptiveGrid(uniform.lattice, dim, seed, kmesh.tolerance, kmesh.max_points or DEFAULT_MAX_POINTS,
                        kmesh.batch_size or 4096, survey=uniform)


# --------------------------------------------------------------------------- evaluation


def _cell_rows(grid: AdaptiveGrid, batch: KBatch, half: np.ndarray, values, include: np.ndarray,
               below: np.ndarray) -> np.ndarray:
    """Per-cell rows (:data:`N_CELL_COLUMNS`) from the per-k values of one batch."""
    rule = grid.rule
    nc, n = len(half), rule.n
    per_k = np.concatenate([np.stack([getattr(values, name) for name in BASE[:5]], -1),
                            values.born_charge.reshape(-1, 6)], axis=1).reshape(nc, n, _NB)
    vol = grid.weight(half)
    rows = np.empty((nc, N_CELL_COLUMNS))
    rows[:, _C_Q7:_C_Q7 + _NB] = np.einsum("p,cpq->cq", rule.w7, per_k) * vol[:, None]
    nulls = np.einsum("jp,cpq->cjq", rule.null_rules(), per_k) * vol[:, None, None]
    rows[:, _C_NULL:_C_NULL + 3 * _NB] = nulls.reshape(nc, 3 * _NB)
    gap = values.gap.reshape(nc, n)
    i = np.argmin(gap, axis=1)
    rows[:, _C_MIN_GAP] = gap[np.arange(nc), i]
    rows[:, _C_MIN_K:_C_MIN_K + 3] = batch.k_cart.reshape(nc, n, 3)[np.arange(nc), i]
    rows[:, _C_MAX_GAP] = gap.max(axis=1)
    rows[:, _C_EXCL] = (~include).reshape(nc, n).mean(axis=1)
    rows[:, _C_BELOW] = below.reshape(nc, n).mean(axis=1)
    # fourth differences of the total integrand along each axis (Genz-Malik / hcubature)
    f = per_k[:, :, _TOTAL]
    f0 = f[:, :1]
    ax = rule.axis_points
    ratio = rule.nodes[ax[0, 0], 0] ** 2 / rule.nodes[ax[0, 2], 0] ** 2
    fourth = np.abs(f[:, ax[:, 0]] + f[:, ax[:, 1]] - 2 * f0
                    - ratio * (f[:, ax[:, 2]] + f[:, ax[:, 3]] - 2 * f0))       # (nc, d)
    width = 2 * half * grid.axis_length[None, :]
    near = fourth >= fourth.max(axis=1, keepdims=True) * (1 - 1e-6)
    rows[:, _C_AXIS] = np.argmax(np.where(near, width, -1.0), axis=1)
    return rows


def evaluate_cells(system, grid: AdaptiveGrid, index: int, centres: np.ndarray, half: np.ndarray,
                   occupation: Occupation, k_resolved=None) -> np.ndarray:
    """Rows of the cells ``centres``/``half`` (one batch), through the engine's batch evaluation.

    After the :data:`N_CELL_COLUMNS` columns come the Q7 values of the ion channels'
    Born charges (6 per ion, :func:`ion_charge_columns`).
    """
    batch = grid.cell_batch(index, centres, half)
    seen = {}

    def capture(b, include, values):
        seen["include"], seen["values"] = include, values
        if k_resolved is not None:
            k_resolved(b, include, values)

    evaluate_batch(system, batch, occupation, capture)
    values = seen["values"]
    e_p = occupation.phonon_energy
    below = np.zeros(len(values.gap), bool) if e_p is None else values.gap < e_p
    rows = _cell_rows(grid, batch, half, values, seen["include"], below)
    nc, n = len(half), grid.rule.n
    ions = values.ion_born_charge.reshape(nc, n, -1)          # (cells, points, 6 n_ions)
    vol = grid.weight(half)
    q7_ions = np.einsum("p,cpq->cq", grid.rule.w7, ions) * vol[:, None]
    return np.concatenate([rows, q7_ions], axis=1)


def ion_charge_columns(rows: np.ndarray) -> slice:
    """The columns of the ion channels' Born charges in the per-cell rows."""
    return slice(N_CELL_COLUMNS, rows.shape[1])


# --------------------------------------------------------------------------- state, checkpoint


@dataclass
class AdaptiveState:
    """The current cells (reduced centres and half-widths) and their rows, and the history."""

    centres: np.ndarray
    half: np.ndarray
    rows: np.ndarray
    points: int                        # k-points evaluated so far (all levels)
    history: list[dict] = field(default_factory=list)


class LevelCheckpoint:
    """Rank 0 writes the state after every level to ``<directory>/adaptive.npz`` (atomically)."""

    def __init__(self, directory: str, fingerprint: str):
        self.path = os.path.join(directory, "adaptive.npz")
        self.fingerprint = fingerprint
        os.makedirs(directory, exist_ok=True)

    def load(self) -> AdaptiveState | None:
        if not os.path.exists(self.path):
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["fingerprint"]) != self.fingerprint:
                    raise WanphononError(
                        "this checkpoint belongs to a different calculation (inputs or settings "
                        "changed)", path=self.path,
                        fix="rerun without --resume into a fresh --out directory, or restore the "
                            "original inputs")
                hist = data["history"]
                keys = [str(k) for k in data["history_keys"]]
                return AdaptiveState(data["centres"], data["half"], data["rows"], int(data["points"]),
                                     [_history_entry(keys, h) for h in hist])
        except (OSError, KeyError, ValueError) as exc:
            raise WanphononError(f"unreadable checkpoint file ({exc})", path=self.path,
                                 fix="delete the checkpoint directory and start again") from None

    def save(self, state: AdaptiveState) -> None:
        keys = list(state.history[0]) if state.history else []
        hist = np.array([[h[k] for k in keys] for h in state.history], float).reshape(len(state.history), -1)
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=np.array(self.fingerprint), centres=state.centres, half=state.half,
                     rows=state.rows, points=np.array(state.points), history=hist,
                     history_keys=np.array(keys))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _history_entry(keys, values) -> dict:
    out = {}
    for k, v in zip(keys, values):
        out[k] = int(v) if k in ("level", "points", "cells", "unresolved_cells") else float(v)
    return out


# --------------------------------------------------------------------------- the integrator


@dataclass
class AdaptiveIntegrals(Integrals):
    """:class:`Integrals` of an adaptive run, with its convergence record.

    ``errors`` (per spin, like ``values``): the summed cell error estimates of every
    :data:`ERROR_TERMS` entry (module docstring).  ``history``: one dict per level.
    ``centres``, ``half``: the final cells (reduced coordinates), for plots.
    """

    errors: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    converged: bool = False
    tolerance: float = 0.0
    unresolved_cells: int = 0
    centres: np.ndarray = field(default=None, repr=False)
    half: np.ndarray = field(default=None, repr=False)


def _unresolved(grid: AdaptiveGrid, state: AdaptiveState, floor: float) -> np.ndarray:
    """Cells that do not resolve the direct gap (and may still be halved)."""
    lo = np.maximum(state.rows[:, _C_MIN_GAP], floor)
    hi = state.rows[:, _C_MAX_GAP]
    depth_ok = np.min(state.half, axis=1) > 0.5 ** (MAX_DEPTH + 1)
    all_out = state.rows[:, _C_EXCL] >= 1.0
    return (hi > GAP_RATIO * lo) & depth_ok & ~all_out


def _cell_errors(grid: AdaptiveGrid, rows: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """``(cells, terms)``: every cell's error estimate of each term, a column of ``terms``
    (``(len(BASE), n_terms)``: the term as a combination of the BASE quantities).

    The null rules are linear, so a term's null-rule values are the same combination of
    the base quantities' ones; the (nonlinear) estimate is taken per term.
    """
    nulls = rows[:, _C_NULL:_C_NULL + 3 * _NB].reshape(len(rows), 3, _NB) @ terms   # (cells, 3, terms)
    return grid.rule.error(np.moveaxis(nulls, 1, 0))


def _summary(grid: AdaptiveGrid, state: AdaptiveState, unresolved: np.ndarray, level: int) -> dict:
    q = state.rows[:, _C_Q7:_C_Q7 + _NB].sum(axis=0)
    err = _cell_errors(grid, state.rows, _ERROR_MAP).sum(axis=0)
    entry = {"level": level, "points": state.points, "cells": len(state.rows),
             "unresolved_cells": int(unresolved.sum())}
    entry.update({f"value_{k}": float(v) for k, v in zip(BASE, q)})
    entry.update({f"error_{k}": float(v) for k, v in zip(ERROR_TERMS, err)})
    return entry


def _scale(state: AdaptiveState, summary: dict) -> float:
    """|chi_total|, or 1e-6 of the integral of |T| where chi_total cancels (vanishes by symmetry)."""
    magnitude = float(np.abs(state.rows[:, _C_Q7 + _TOTAL]).sum())
    return max(abs(summary["value_total"]), 1e-6 * magnitude)


def _select(grid: AdaptiveGrid, state: AdaptiveState, unresolved: np.ndarray,
            target: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the cells to halve (ascending) and the axis of each."""
    e = _cell_errors(grid, state.rows, np.eye(_NB)[:, [_TOTAL]])[:, 0]
    excess = e.sum() - 0.8 * target
    by_error = np.zeros(len(e), bool)
    if e.sum() > target:
        order = np.argsort(-e, kind="stable")
        n = int(np.searchsorted(np.cumsum(e[order]), excess)) + 1
        by_error[order[:n]] = True
    split = np.flatnonzero(by_error | unresolved)
    width = 2 * state.half[split] * grid.axis_length[None, :]
    longest = np.argmax(width, axis=1)
    axis = np.where(by_error[split], state.rows[split, _C_AXIS].astype(int), longest)
    return split, axis


def _children(centres: np.ndarray, half: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of every cell along its ``axis`` (lower half first), in cell order."""
    n = len(centres)
    h = half.copy()
    h[np.arange(n), axis] *= 0.5
    step = np.zeros_like(centres)
    step[np.arange(n), axis] = h[np.arange(n), axis]
    c = np.stack([centres - step, centres + step], axis=1).reshape(-1, centres.shape[1])
    return c, np.repeat(h, 2, axis=0)


def _evaluate_level(system, grid, centres, half, comm, kw) -> np.ndarray:
    """Rows of all ``centres``/``half`` cells, batches dealt round-robin; every rank gets them all."""
    cpb = grid.cells_per_batch
    n_batches = -(-len(centres) // cpb)
    rows, error = {}, None
    for b in range(comm.rank, n_batches, comm.size):
        sl = slice(b * cpb, min((b + 1) * cpb, len(centres)))
        try:
            rows[b] = evaluate_cells(system, grid, b, centres[sl], half[sl], **kw)
        except GapClosedError as exc:
            error = exc
            break
    sent = None if error is None else (error.problem, error.index, error.gap, error.fix)
    gathered = comm.gather((rows, sent), root=0)
    if comm.rank == 0:
        errors = [e for _, e in gathered if e is not None]
        all_rows = {}
        for r, _ in gathered:
            all_rows.update(r)
        out = (errors, None if errors else np.concatenate([all_rows[b] for b in range(n_batches)]))
    else:
        out = None
    errors, level_rows = comm.bcast(out, root=0)
    if errors:
        problem, index, gap, fix = errors[0]
        raise GapClosedError(problem, index=index, gap=gap, fix=fix)
    return level_rows


def integrate_adaptive(system, grid: AdaptiveGrid, occupation: Occupation, *,
                       comm=None, checkpoint: LevelCheckpoint | None = None,
                       progress: bool = False, k_resolved=None) -> AdaptiveIntegrals | None:
    """Integrate every quantity of ``system`` adaptively (module docstring).

    Returns :class:`AdaptiveIntegrals` on rank 0 and None on the other ranks.
    Arguments as :func:`wanphonon.engine.integrate.integrate`; ``checkpoint`` saves and
    restores the state after every level; ``progress``: the log line of each level at
    INFO level (else DEBUG).
    """
    comm = comm or SerialComm()
    kw = dict(occupation=occupation, k_resolved=k_resolved)
    e_p = occupation.phonon_energy
    floor = e_p if (occupation.adiabatic_cutoff and e_p) else 0.0
    state = checkpoint.load() if checkpoint is not None else None
    comm.barrier()      # every rank has read the checkpoint before rank 0 may replace it
    if state is None:
        centres, half = grid.seed_cells()
        state = AdaptiveState(centres, half, _evaluate_level(system, grid, centres, half, comm, kw),
                              len(centres) * grid.rule.n)
        _record(grid, state, floor, comm, checkpoint)
    converged = False
    while True:
        h = state.history[-1]
        unresolved = _unresolved(grid, state, floor)
        target = grid.tolerance * _scale(state, h)
        if comm.rank == 0:
            log.log(logging.INFO if progress else logging.DEBUG,
                    "adaptive level %d: %d k-points, %d cells, chi_total/g = %.10e +- %.2e "
                    "(relative %.2e, tolerance %.1e), %d cells not resolving the gap", h["level"],
                    h["points"], h["cells"], h["value_total"], h["error_total"],
                    h["error_total"] / max(abs(h["value_total"]), 1e-300), grid.tolerance,
                    h["unresolved_cells"])
        if h["error_total"] <= target and not unresolved.any():
            converged = True
            break
        split, axis = _select(grid, state, unresolved, target)
        new_points = 2 * len(split) * grid.rule.n
        if state.points + new_points > grid.max_points:
            if comm.rank == 0:
                log.warning("adaptive integration stopped at the k-point budget max_points = %d "
                            "before reaching the tolerance %.1e (estimated relative error %.2e)",
                            grid.max_points, grid.tolerance,
                            h["error_total"] / max(abs(h["value_total"]), 1e-300))
            break
        c, hw = _children(state.centres[split], state.half[split], axis)
        new_rows = _evaluate_level(system, grid, c, hw, comm, kw)
        keep = np.ones(len(state.rows), bool)
        keep[split] = False
        state = AdaptiveState(np.concatenate([state.centres[keep], c]),
                              np.concatenate([state.half[keep], hw]),
                              np.concatenate([state.rows[keep], new_rows]),
                              state.points + new_points, state.history)
        _record(grid, state, floor, comm, checkpoint)
    if comm.rank != 0:
        return None
    return _integrals(grid, state, converged, int(unresolved.sum()))


def _record(grid: AdaptiveGrid, state: AdaptiveState, floor: float, comm,
            checkpoint: LevelCheckpoint | None) -> None:
    """Append the finished level to the history and checkpoint it (rank 0)."""
    state.history.append(_summary(grid, state, _unresolved(grid, state, floor), len(state.history)))
    if checkpoint is not None and comm.rank == 0:
        checkpoint.save(state)


def _integrals(grid: AdaptiveGrid, state: AdaptiveState, converged: bool,
               unresolved: int) -> AdaptiveIntegrals:
    rows, h = state.rows, state.history[-1]
    q = rows[:, _C_Q7:_C_Q7 + _NB].sum(axis=0)
    vol = grid.weight(state.half)
    i = int(np.argmin(rows[:, _C_MIN_GAP]))
    n = grid.rule.n
    return AdaptiveIntegrals(
        values={k: float(v) for k, v in zip(BASE[:5], q[:5])},
        born_charge=q[5:].reshape(3, 2),
        min_gap=float(rows[i, _C_MIN_GAP]), min_gap_k=rows[i, _C_MIN_K:_C_MIN_K + 3].tolist(),
        points=state.points, points_excluded=int(round(float(rows[:, _C_EXCL].sum()) * n)),
        weight_excluded=float(vol @ rows[:, _C_EXCL]), weight_below=float(vol @ rows[:, _C_BELOW]),
        weight_total=1.0 / grid.cell_measure, batches=[],
        ion_born_charge=rows[:, ion_charge_columns(rows)].sum(axis=0).reshape(-1, 3, 2),
        errors={k: h[f"error_{k}"] for k in ERROR_TERMS}, history=list(state.history),
        converged=converged, tolerance=grid.tolerance, unresolved_cells=unresolved,
        centres=state.centres, half=state.half)
