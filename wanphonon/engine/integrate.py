"""The integration engine: batches of k-points -> geometric integrals.

For every batch of a grid the engine asks the system for ``H`` and its
derivatives, diagonalises, applies the adiabatic cutoff (k-points whose direct
gap is below the phonon energy are excluded and counted), checks the gap,
evaluates the integrands (:mod:`wanphonon.geometry.integrands`) and reduces them
to one row of partial sums.  Batches are dealt round-robin to MPI ranks; rank 0
gathers the rows and adds them in batch order, so the result is the same for
any number of ranks.  Rows can be checkpointed and a run resumed.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import GapClosedError
from ..geometry.bands import DEFAULT_GAP_TOLERANCE, Eigensystem, check_gap, diagonalize
from ..geometry.hamiltonian import HamiltonianDerivatives
from ..geometry.integrands import SCALAR_INTEGRANDS, KResolved, evaluate
from .checkpoint import Checkpoint
from .grids import KBatch
from .parallel import SerialComm

log = logging.getLogger("wanphonon")

#: Layout of one row of partial sums.
ROW_FIELDS = (*SCALAR_INTEGRANDS,
              "Z_xx", "Z_xy", "Z_yx", "Z_yy", "Z_zx", "Z_zy",
              "weight_included", "weight_excluded", "weight_below", "points", "points_excluded",
              "min_gap", "min_gap_kx", "min_gap_ky", "min_gap_kz")
_COL = {name: i for i, name in enumerate(ROW_FIELDS)}


@dataclass
class Integrals:
    """Grid sums of the integrands, ``int d^dk/(2 pi)^d`` (no spin degeneracy).

    ``values`` holds born_a, born_b, energy, total, berry_curvature (1/A^d for
    dimensionless integrands; ``berry_curvature`` is dimensionless in 2D);
    ``born_charge[i, j] = int Tr Omega_{k_i u_j}``.  ``rows`` are the per-batch
    partial sums in batch order (:data:`ROW_FIELDS`).
    """

    values: dict[str, float]
    born_charge: np.ndarray
    min_gap: float
    min_gap_k: list[float]
    points: int
    points_excluded: int
    weight_excluded: float
    weight_below: float
    weight_total: float
    rows: np.ndarray = field(repr=False)

    @property
    def excluded_fraction(self) -> float:
        """Share of the integration measure removed by the adiabatic cutoff."""
        return self.weight_excluded / self.weight_total if self.weight_total else 0.0

    @property
    def below_fraction(self) -> float:
        """Share of the integration measure whose direct gap is below the phonon energy."""
        return self.weight_below / self.weight_total if self.weight_total else 0.0


def batch_derivatives(system, batch: KBatch):
    """H and derivatives of ``system`` on ``batch``, by FFT where the system offers it."""
    if batch.fft is not None and hasattr(system, "derivatives_fft"):
        return system.derivatives_fft(*batch.fft, batch.k_cart)
    return system.derivatives(batch.k_cart)


def evaluate_batch(system, batch: KBatch, *, n_occ=None, fermi_energy=None,
                   gap_tolerance=DEFAULT_GAP_TOLERANCE, phonon_energy=None,
                   adiabatic_cutoff=False, k_resolved=None) -> np.ndarray:
    """One row of partial sums (:data:`ROW_FIELDS`) for one batch.

    ``phonon_energy`` (eV): the measure of k-points whose direct gap is below it
    is recorded; with ``adiabatic_cutoff`` those k-points are also excluded.
    """
    derivs = batch_derivatives(system, batch)
    try:
        eig = diagonalize(derivs.H, n_occ=n_occ, fermi_energy=fermi_energy)
    except GapClosedError as exc:
        raise _at_k(exc, batch.k_cart[exc.index]) from None
    gap = eig.direct_gap
    below = np.zeros(len(gap), bool) if phonon_energy is None else gap < phonon_energy
    include = ~below if adiabatic_cutoff else np.ones(len(gap), bool)
    idx = np.flatnonzero(include)
    if adiabatic_cutoff:
        gap_tolerance = min(gap_tolerance, phonon_energy)
    try:
        check_gap(eig.subset(include), gap_tolerance)
    except GapClosedError as exc:
        raise _at_k(exc, batch.k_cart[idx[exc.index]]) from None
    if include.all():       # the usual case: no copies of the derivative stacks
        part = _evaluate_in_chunks(derivs, eig)
    else:
        part = _evaluate_in_chunks(derivs.subset(include), eig.subset(include))
    if k_resolved is not None:
        full = KResolved.zeros(len(gap))
        full.scatter(include, part)
        full.gap[:] = gap
        k_resolved(batch, include, full)

    w = batch.weights[include]
    row = np.zeros(len(ROW_FIELDS))
    for name in SCALAR_INTEGRANDS:
        row[_COL[name]] = w @ getattr(part, name)
    row[_COL["Z_xx"]:_COL["Z_xx"] + 6] = np.einsum("k,kij->ij", w, part.born_charge).ravel()
    row[_COL["weight_included"]] = w.sum()
    row[_COL["weight_excluded"]] = batch.weights[~include].sum()
    row[_COL["weight_below"]] = batch.weights[below].sum()
    row[_COL["points"]] = len(gap)
    row[_COL["points_excluded"]] = len(gap) - len(idx)
    i = int(np.argmin(gap))
    row[_COL["min_gap"]] = gap[i]
    row[_COL["min_gap_kx"]:_COL["min_gap_kx"] + 3] = batch.k_cart[i]
    return row


#: k-points per call of the geometry code: small enough for its work arrays to stay in cache
#: (measured: 24 Wannier functions, 64 k-points per call ~20 % faster than 2304).
GEOMETRY_CHUNK = 64


def _evaluate_in_chunks(derivs, eig) -> KResolved:
    """:func:`evaluate` on consecutive slices of the batch (views, no copies), concatenated."""
    nk = derivs.nk
    if nk <= GEOMETRY_CHUNK or not isinstance(derivs.H, np.ndarray):   # a device: the whole batch
        return evaluate(derivs, eigensystem=eig)
    parts = []
    for lo in range(0, nk, GEOMETRY_CHUNK):
        sl = slice(lo, min(lo + GEOMETRY_CHUNK, nk))
        d = HamiltonianDerivatives(derivs.H[sl], derivs.dk[:, sl], derivs.du[:, sl],
                                   derivs.dkdu[:, :, sl], derivs.dpos)
        parts.append(evaluate(d, eigensystem=Eigensystem(eig.energies[sl], eig.vectors[sl], eig.n_occ)))
    return KResolved(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(KResolved)))


def _at_k(exc: GapClosedError, k: np.ndarray) -> GapClosedError:
    where = f" at k = ({k[0]:.6f}, {k[1]:.6f}, {k[2]:.6f}) 1/A"
    return GapClosedError(exc.problem + where, index=exc.index, gap=exc.gap, fix=exc.fix)


def combine(rows: np.ndarray) -> Integrals:
    """Reduce per-batch rows (in batch order) to :class:`Integrals`."""
    total = rows.sum(axis=0)
    values = {name: float(total[_COL[name]]) for name in SCALAR_INTEGRANDS}
    i = int(np.argmin(rows[:, _COL["min_gap"]]))
    k0 = _COL["min_gap_kx"]
    return Integrals(values=values,
                     born_charge=total[_COL["Z_xx"]:_COL["Z_xx"] + 6].reshape(3, 2),
                     min_gap=float(rows[i, _COL["min_gap"]]),
                     min_gap_k=rows[i, k0:k0 + 3].tolist(),
                     points=int(total[_COL["points"]]),
                     points_excluded=int(total[_COL["points_excluded"]]),
                     weight_excluded=float(total[_COL["weight_excluded"]]),
                     weight_below=float(total[_COL["weight_below"]]),
                     weight_total=float(total[_COL["weight_included"]] + total[_COL["weight_excluded"]]),
                     rows=rows)


class Progress:
    """Progress with ETA on rank 0: a bar on a terminal, log lines otherwise."""

    def __init__(self, total: int, enabled: bool, every_s: float = 5.0):
        self.total, self.enabled, self.every_s = total, enabled, every_s
        self.start = time.monotonic()
        self.last = -math.inf
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else self.every_s) and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        frac = done / self.total if self.total else 1.0
        if self.tty:
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r[{bar:<30}] {100 * frac:5.1f}%  {done}/{self.total} batches  "
                             f"ETA {eta:6.0f} s")
            if done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        else:
            log.info("%d/%d batches (%.1f%%), elapsed %.0f s, ETA %.0f s", done, self.total,
                     100 * frac, elapsed, eta)


def integrate(system, grid, *, n_occ=None, fermi_energy=None,
              gap_tolerance=DEFAULT_GAP_TOLERANCE, phonon_energy=None,
              adiabatic_cutoff=False, comm=None,
              checkpoint: Checkpoint | None = None, progress: bool = False,
              k_resolved=None) -> Integrals | None:
    """Integrate every quantity of ``system`` over ``grid``.

    Returns :class:`Integrals` on rank 0 and None on the other ranks.
    ``phonon_energy`` (eV): k-points whose direct gap is smaller are measured
    and, with ``adiabatic_cutoff``, excluded.
    ``k_resolved(batch, include, KResolved)`` is called for each batch this
    rank computes (for per-k output).
    """
    comm = comm or SerialComm()
    done = checkpoint.load_all() if checkpoint is not None else {}
    # No rank may write its checkpoint before every rank has read them all: otherwise a
    # slow reader sees batches done in this run, the ranks' todo lists differ and the
    # round-robin deal below leaves batches to nobody.
    comm.barrier()
    todo = [b for b in range(grid.n_batches) if b not in done]
    mine = todo[comm.rank::comm.size]
    bar = Progress(len(mine), progress and comm.rank == 0)
    rows: dict[int, np.ndarray] = {}
    error = None
    for n, b in enumerate(mine):
        batch = grid.batch(b)
        try:
            rows[b] = evaluate_batch(system, batch, n_occ=n_occ, fermi_energy=fermi_energy,
                                     gap_tolerance=gap_tolerance, phonon_energy=phonon_energy,
                                     adiabatic_cutoff=adiabatic_cutoff, k_resolved=k_resolved)
        except GapClosedError as exc:
            error = exc
            break
        except KeyboardInterrupt:      # Ctrl-C: keep what is done for --resume
            if checkpoint is not None:
                checkpoint.save()
            raise
        if checkpoint is not None:
            checkpoint.record(b, rows[b])
        bar.update(n + 1)
    if checkpoint is not None:
        checkpoint.save()
    # exceptions with keyword-only constructor arguments do not survive pickling: send fields
    sent = None if error is None else (error.problem, error.index, error.gap, error.fix)
    gathered = comm.gather((rows, sent), root=0)
    errors = comm.bcast(None if comm.rank else [e for _, e in gathered if e is not None], root=0)
    if errors:
        problem, index, gap, fix = errors[0]
        raise GapClosedError(problem, index=index, gap=gap, fix=fix)
    if comm.rank != 0:
        return None
    all_rows = dict(done)
    for r, _ in gathered:
        all_rows.update(r)
    ordered = np.array([all_rows[b] for b in range(grid.n_batches)])
    return combine(ordered)
