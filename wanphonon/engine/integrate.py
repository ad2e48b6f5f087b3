"""The integration engine: batches of k-points -> geometric integrals.

For every batch of a grid the engine asks the system for ``H`` and its
derivatives, diagonalises, applies the adiabatic cutoff (k-points whose direct
gap is below the phonon energy are excluded and counted), checks the gap with
the user's tolerance (the one place where it is checked; the message names the
k-point), evaluates the integrands (:mod:`wanphonon.geometry.integrands`,
including the Born charge of every ion channel of the system) and reduces them
to named partial sums (:class:`BatchSums`).  Batches are dealt round-robin to
MPI ranks; rank 0 gathers them and adds them in batch order, so the result is
the same for any number of ranks.  Partial sums are checkpointed; a run
interrupted by SIGINT or SIGTERM saves its checkpoint first and can be resumed.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..errors import GapClosedError
from ..geometry.bands import DEFAULT_GAP_TOLERANCE, Eigensystem, check_gap, diagonalize
from ..geometry.integrands import SCALAR_INTEGRANDS, KResolved, evaluate
from .checkpoint import Checkpoint
from .grids import KBatch
from .parallel import SerialComm
from .signals import Terminated

log = logging.getLogger("wanphonon")


@dataclass(frozen=True)
class Occupation:
    """The occupied manifold: ``n_occ`` lowest levels, or all levels below ``fermi_energy`` (eV).

    ``gap_tolerance`` (eV): a smaller direct gap between occupied and empty levels
    is an error.  ``phonon_energy`` (eV): the measure of k-points whose direct gap
    is below it is recorded, and with ``adiabatic_cutoff`` those points are left out.
    """

    n_occ: int | None = None
    fermi_energy: float | None = None
    gap_tolerance: float = DEFAULT_GAP_TOLERANCE
    phonon_energy: float | None = None
    adiabatic_cutoff: bool = False


class BatchSums:
    """Named partial sums of one batch (or of a whole grid), as one flat vector.

    Fields (weights include ``1/(2 pi)^d``; integrands per spin):
    the :data:`SCALAR_INTEGRANDS`; ``born_charge`` ``(3, 2)``; ``ion_born_charge``
    ``(n_ions, 3, 2)``; ``weight_included``, ``weight_excluded`` (adiabatic cutoff),
    ``weight_below`` (gap below the phonon energy), ``points``, ``points_excluded``;
    ``min_gap`` (eV) and ``min_gap_k`` ``(3,)`` (1/A).  The flat vector is what
    checkpoints store and ranks exchange; sums of vectors are sums of the fields,
    except the minimum gap, which :func:`combine` takes by minimum.
    """

    def __init__(self, n_ions: int, vector: np.ndarray | None = None):
        self.n_ions = n_ions
        shapes = [(name, ()) for name in SCALAR_INTEGRANDS] + [
            ("born_charge", (3, 2)), ("ion_born_charge", (n_ions, 3, 2)),
            ("weight_included", ()), ("weight_excluded", ()), ("weight_below", ()),
            ("points", ()), ("points_excluded", ()), ("min_gap", ()), ("min_gap_k", (3,))]
        self._slices, start = {}, 0
        for name, shape in shapes:
            n = int(np.prod(shape))
            self._slices[name] = (slice(start, start + n), shape)
            start += n
        self.vector = np.zeros(start) if vector is None else np.asarray(vector, dtype=float)

    def __getitem__(self, name: str):
        sl, shape = self._slices[name]
        return self.vector[sl].reshape(shape) if shape else float(self.vector[sl][0])

    def __setitem__(self, name: str, value) -> None:
        sl, _ = self._slices[name]
        self.vector[sl] = np.ravel(value)


@dataclass
class Integrals:
    """Grid sums of the integrands, ``int d^dk/(2 pi)^d`` (per spin).

    ``values`` holds born_a, born_b, energy, total, berry_curvature (1/A^d for
    dimensionless integrands; ``berry_curvature`` is dimensionless in 2D);
    ``born_charge[i, j] = int Tr Omega_{k_i u_j}`` of the mode, ``ion_born_charge``
    ``(n_ions, 3, 2)`` the same for each ion channel.  ``batches`` are the
    per-batch partial sums in batch order.
    """

    values: dict[str, float]
    born_charge: np.ndarray
    ion_born_charge: np.ndarray
    min_gap: float
    min_gap_k: list[float]
    points: int
    points_excluded: int
    weight_excluded: float
    weight_below: float
    weight_total: float
    batches: list[BatchSums]

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


def evaluate_batch(system, batch: KBatch, occupation: Occupation, k_resolved=None) -> BatchSums:
    """The partial sums of one batch (see :class:`Occupation` for the cutoff and the gap check)."""
    derivs = batch_derivatives(system, batch)
    try:
        eig = diagonalize(derivs.H, n_occ=occupation.n_occ, fermi_energy=occupation.fermi_energy)
    except GapClosedError as exc:
        raise _at_k(exc, batch.k_cart[exc.index]) from None
    gap = eig.direct_gap
    e_p = occupation.phonon_energy
    below = np.zeros(len(gap), bool) if e_p is None else gap < e_p
    cutoff = occupation.adiabatic_cutoff and e_p is not None
    include = ~below if cutoff else np.ones(len(gap), bool)
    idx = np.flatnonzero(include)
    tolerance = min(occupation.gap_tolerance, e_p) if cutoff else occupation.gap_tolerance
    try:
        check_gap(eig.subset(include), tolerance)
    except GapClosedError as exc:
        raise _at_k(exc, batch.k_cart[idx[exc.index]]) from None
    if include.all():       # the usual case: no copies of the derivative stacks
        part = _evaluate_in_chunks(derivs, eig)
    else:
        part = _evaluate_in_chunks(derivs.subset(include), eig.subset(include))
    n_ions = len(system.ion_labels)
    if k_resolved is not None:
        full = KResolved.zeros(len(gap), n_ions)
        full.scatter(include, part)
        full.gap[:] = gap
        k_resolved(batch, include, full)

    w = batch.weights[include]
    sums = BatchSums(n_ions)
    for name in SCALAR_INTEGRANDS:
        sums[name] = w @ getattr(part, name)
    sums["born_charge"] = np.einsum("k,kij->ij", w, part.born_charge)
    sums["ion_born_charge"] = np.einsum("k,kmij->mij", w, part.ion_born_charge)
    sums["weight_included"] = w.sum()
    sums["weight_excluded"] = batch.weights[~include].sum()
    sums["weight_below"] = batch.weights[below].sum()
    sums["points"] = len(gap)
    sums["points_excluded"] = len(gap) - len(idx)
    i = int(np.argmin(gap))
    sums["min_gap"] = gap[i]
    sums["min_gap_k"] = batch.k_cart[i]
    return sums


#: k-points per call of the geometry code: small enough for its work arrays to stay in cache
#: (measured: 24 Wannier functions, 64 k-points per call ~20 % faster than 2304).
GEOMETRY_CHUNK = 64


def _evaluate_in_chunks(derivs, eig: Eigensystem) -> KResolved:
    """:func:`evaluate` on consecutive slices of the batch (views, no copies), concatenated."""
    nk = derivs.nk
    if nk <= GEOMETRY_CHUNK or not isinstance(derivs.H, np.ndarray):   # a device: the whole batch
        return evaluate(derivs, eig)
    parts = []
    for lo in range(0, nk, GEOMETRY_CHUNK):
        sl = slice(lo, min(lo + GEOMETRY_CHUNK, nk))
        parts.append(evaluate(derivs.slice(sl), Eigensystem(eig.energies[sl], eig.vectors[sl], eig.n_occ)))
    return KResolved.concatenate(parts)


def _at_k(exc: GapClosedError, k: np.ndarray) -> GapClosedError:
    where = f" at k = ({k[0]:.6f}, {k[1]:.6f}, {k[2]:.6f}) 1/A"
    return GapClosedError(exc.problem + where, index=exc.index, gap=exc.gap, fix=exc.fix)


def combine(batches: list[BatchSums]) -> Integrals:
    """Reduce per-batch partial sums (in batch order) to :class:`Integrals`."""
    total = BatchSums(batches[0].n_ions, np.sum([b.vector for b in batches], axis=0))
    best = min(batches, key=lambda b: b["min_gap"])
    return Integrals(values={name: total[name] for name in SCALAR_INTEGRANDS},
                     born_charge=total["born_charge"], ion_born_charge=total["ion_born_charge"],
                     min_gap=best["min_gap"], min_gap_k=best["min_gap_k"].tolist(),
                     points=int(total["points"]), points_excluded=int(total["points_excluded"]),
                     weight_excluded=total["weight_excluded"], weight_below=total["weight_below"],
                     weight_total=total["weight_included"] + total["weight_excluded"],
                     batches=batches)


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


def integrate(system, grid, occupation: Occupation, *, comm=None,
              checkpoint: Checkpoint | None = None, progress: bool = False,
              k_resolved=None) -> Integrals | None:
    """Integrate every quantity of ``system`` over ``grid``.

    Returns :class:`Integrals` on rank 0 and None on the other ranks.
    ``k_resolved(batch, include, KResolved)`` is called for each batch this
    rank computes (for per-k output).  SIGINT and SIGTERM save the checkpoint
    and re-raise (``KeyboardInterrupt``, :class:`~wanphonon.engine.signals.Terminated`).
    """
    comm = comm or SerialComm()
    n_ions = len(system.ion_labels)
    done = checkpoint.load_all() if checkpoint is not None else {}
    # No rank may write its checkpoint before every rank has read them all: otherwise a
    # slow reader sees batches done in this run, the ranks' todo lists differ and the
    # round-robin deal below leaves batches to nobody.
    comm.barrier()
    todo = [b for b in range(grid.n_batches) if b not in done]
    mine = todo[comm.rank::comm.size]
    log.debug("rank %d: %d of %d batches (%d done before), %d ion channel(s)", comm.rank, len(mine),
              grid.n_batches, len(done), n_ions)
    start = time.monotonic()
    bar = Progress(len(mine), progress and comm.rank == 0)
    rows: dict[int, np.ndarray] = {}
    error = None
    for n, b in enumerate(mine):
        try:
            rows[b] = evaluate_batch(system, grid.batch(b), occupation, k_resolved).vector
        except GapClosedError as exc:
            error = exc
            break
        except (KeyboardInterrupt, Terminated):   # keep what is done for --resume
            if checkpoint is not None:
                checkpoint.save()
            raise
        if checkpoint is not None:
            checkpoint.record(b, rows[b])
        bar.update(n + 1)
    if checkpoint is not None:
        checkpoint.save()
    log.debug("rank %d: %d batches in %.2f s", comm.rank, len(rows), time.monotonic() - start)
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
    return combine([BatchSums(n_ions, all_rows[b]) for b in range(grid.n_batches)])
