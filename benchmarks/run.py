#!/usr/bin/env python
"""Speed of wanphonon's engine against WannierBerri's AHC and a bare eigh, and its MPI scaling.

    .venv/bin/python benchmarks/run.py --quick        # <= 2 minutes on 2 cores
    .venv/bin/python benchmarks/run.py                # larger grid, more repeats
    .venv/bin/python benchmarks/run.py --profile      # also a cProfile of the engine path

One Hamiltonian, one k-grid, in one run (see benchmarks/README.md):

* a random gapped Wannier-like model (``--nwann`` WFs, default 24; ~57 R vectors,
  off-origin centres, random dH/du), written as Wannier90 ``_tb.dat`` files of an
  equilibrium and four displaced runs plus a wanphonon TOML configuration; every
  measurement uses the model as wanphonon reads it back (``wanphonon.api.setup``);
* ours: ``wanphonon.engine.integrate.integrate`` -- H, d_kH, d_uH, d_kd_uH by Fourier
  sums, eigh, second Chern form, T(k), Born charges -- serial, on the config's grid;
* WannierBerri: ``wannierberri.run(system, grid, calculators={"ahc": AHC(Efermi=[mid-gap])},
  parallel=False)`` on the same Hamiltonian (``system_from_tight_binding``) and grid;
* bare eigh: ``numpy.linalg.eigh`` of the precomputed H(k) of every grid point, one call;
* the command line ``wanphonon run CONFIG`` serially and under ``mpiexec -n 2`` (same
  config): engine time (``wanphonon.api.compute`` on each rank) and wall-clock time,
  and the peak resident memory (ru_maxrss) of every rank.

Every timing is serial on one core (OMP/OpenBLAS threads = 1), after a warm-up, the
median of ``--repeats`` runs.  Output: the four lines named in the issue, then details.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"          # before numpy: one core per process, as under MPI

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

LATTICE = np.array([[3.0, 0.0, 0.0], [-1.5, 2.6, 0.0], [0.0, 0.0, 15.0]])   # hexagonal-ish, 2D


# --------------------------------------------------------------------------------------- model

def random_model(n: int = 24, seed: int = 0, cutoff_A: float = 12.0, gap: float = 6.0):
    """A random gapped tight-binding model: n WFs, hoppings to |R| <= cutoff_A (57 R for 12 A).

    Staggered on-site energies (n/2 low, n/2 high) keep a gap of a few eV; hoppings and
    dH/du are random complex matrices decaying as exp(-|R|/3 A); centres off the origin.
    """
    from wanphonon.systems.tight_binding import TightBinding
    rng = np.random.default_rng(seed)

    def herm():
        a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
        return (a + a.conj().T) / (2 * np.sqrt(n))

    half = [(i, j, 0) for i in range(-6, 7) for j in range(-6, 7)
            if (i, j) > (0, 0) and np.linalg.norm(np.array([i, j, 0]) @ LATTICE) <= cutoff_A]
    H = {(0, 0, 0): np.diag(np.where(np.arange(n) < n // 2, -gap / 2, gap / 2)) + 0.3 * herm()}
    D = {(0, 0, 0): np.stack([herm(), herm()])}
    for r in half:
        decay = np.exp(-np.linalg.norm(np.array(r) @ LATTICE) / 3.0) / np.sqrt(n)
        x = 0.35 * decay * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
        y = 0.5 * decay * (rng.normal(size=(2, n, n)) + 1j * rng.normal(size=(2, n, n)))
        mr = tuple(-c for c in r)
        H[r], H[mr] = x, x.conj().T
        D[r], D[mr] = y, np.conj(np.swapaxes(y, -1, -2))
    keys = sorted(H)
    centres = np.zeros((n, 3))
    centres[:, :2] = rng.uniform(-0.5, 0.5, size=(n, 2)) @ LATTICE[:2, :2]
    return TightBinding(LATTICE, np.array(keys), np.array([H[k] for k in keys]),
                        np.moveaxis(np.array([D[k] for k in keys]), 1, 0), centres,
                        np.zeros((2, n, 3)), name="random", n_occ=n // 2)


def write_inputs(tb, directory: str, mesh: int, batch_size: int, u: float = 1e-3) -> str:
    """Wannier90 ``_tb.dat`` of the equilibrium run and of four displaced runs
    (H(R) + u . dH(R), exactly linear), and the TOML configuration; returns its path."""
    from wanphonon.io.writers import displacement_tables, write_frozen_phonon_runs
    n = tb.num_bands
    displacements = displacement_tables(write_frozen_phonon_runs(directory, tb, u))
    path = os.path.join(directory, "benchmark.toml")
    with open(path, "w") as fh:
        fh.write(f'[wannier]\nseedname = "eq"\npositions = "fixed"\n{displacements}'
                 f"[electrons]\noccupied_bands = {n // 2}\nspin_degeneracy = 1\n"
                 f"[kmesh]\nsize = [{mesh}, {mesh}, 1]\nbatch_size = {batch_size}\n")
    return path


# ------------------------------------------------------------------------------------ timings

def all_k(grid) -> np.ndarray:
    return np.concatenate([grid.batch(b).k_cart for b in range(grid.n_batches)])


def wannierberri_ahc(tb, mesh: int, efermi: float, workdir: str):
    """A callable running WannierBerri's AHC on the same model and grid, and its NKFFT."""
    import wannierberri as wb
    from wannierberri.calculators.static import AHC
    from wanphonon.interfaces.wannierberri import system_from_tight_binding
    logging.getLogger("wannierberri").setLevel(logging.ERROR)
    system = system_from_tight_binding(tb)
    # the FFT sub-grid: the divisor of the mesh nearest to WannierBerri's recommended size
    rec = int(max(system.NKFFT_recommended[:2]))
    nkfft = min((d for d in range(1, mesh + 1) if mesh % d == 0 and d >= rec), default=mesh)
    grid = wb.Grid(system, NK=(mesh, mesh, 1), NKFFT=(nkfft, nkfft, 1), use_symmetry=False)
    calculators = {"ahc": AHC(Efermi=np.array([efermi]), save_mode="bin")}

    def run():
        return wb.run(system, grid, calculators=calculators, parallel=False, use_irred_kpt=False,
                      symmetrize=False, fout_name=os.path.join(workdir, "wb"),
                      print_progress_step_time=1e9)
    return run, nkfft


# ------------------------------------------------------------------------ the CLI under MPI

def as_rank(record_dir: str, argv: list[str]) -> int:
    """Run ``wanphonon.cli.main(argv)`` in this process (one MPI rank or the serial run),
    timing the engine (``wanphonon.api.compute``), and record time and ru_maxrss."""
    import wanphonon.api as api
    from wanphonon import cli
    engine = {"s": 0.0}
    compute = api.compute

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return compute(*args, **kwargs)
        finally:
            engine["s"] += time.perf_counter() - start
    api.compute = timed
    start = time.perf_counter()
    status = cli.main(argv)
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    hwm = float("nan")
    try:        # VmHWM: the peak of this executable only (ru_maxrss survives exec: a child forked
        with open("/proc/self/status") as fh:   # from a big parent reports the parent's peak)
            hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024.0
    except (OSError, StopIteration):
        pass
    with open(os.path.join(record_dir, f"rank{rank}.json"), "w") as fh:
        json.dump({"rank": rank, "engine_s": engine["s"], "main_s": time.perf_counter() - start,
                   "maxrss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                   "hwm_MB": hwm}, fh)
    return status


def cli_run(config: str, out: str, ranks: int | None) -> tuple[float, list[dict]]:
    """Wall-clock time of ``wanphonon run`` (serial or ``mpiexec -n ranks``) and per-rank records."""
    records = out + ".ranks"
    shutil.rmtree(records, ignore_errors=True)
    os.makedirs(records)
    cmd = [sys.executable, os.path.abspath(__file__), "--as-rank", records, "--",
           "run", config, "--out", out, "-q", "--overwrite"]
    if ranks is not None:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec, "-n", str(ranks), *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    ranks_out = [json.load(open(os.path.join(records, f))) for f in sorted(os.listdir(records))]
    return wall, ranks_out


# -------------------------------------------------------------------------------- profiling

def profile_engine(calc, top: int = 18) -> None:
    import cProfile
    import pstats
    from wanphonon.engine.integrate import Occupation, integrate
    prof = cProfile.Profile()
    prof.enable()
    integrate(calc.system, calc.grid, Occupation(calc.n_occ))
    prof.disable()
    print("\n# cProfile of the engine path (tottime, one integration)")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# ------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="96x96 grid, 3 repeats (<= 2 minutes)")
    p.add_argument("--nwann", type=int, default=24, help="number of Wannier functions (default 24)")
    p.add_argument("--mesh", type=int, help="k-mesh n x n x 1 (default 96 quick, 192 otherwise)")
    p.add_argument("--repeats", type=int, help="timed repeats (default 3 quick, 5 otherwise)")
    p.add_argument("--batch-size", type=int, default=256, help="k-points per engine batch")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks for the parallel run")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the engine path")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--as-rank", help=argparse.SUPPRESS)
    args, rest = p.parse_known_args(argv)
    if args.as_rank:
        return as_rank(args.as_rank, [a for a in rest if a != "--"])
    mesh = args.mesh or (96 if args.quick else 192)
    repeats = args.repeats or (3 if args.quick else 5)

    from wanphonon.api import setup
    from wanphonon.engine.integrate import Occupation, integrate

    work = tempfile.mkdtemp(prefix="wanphonon-bench-")
    try:
        t0 = time.perf_counter()
        config = write_inputs(random_model(args.nwann), work, mesh, args.batch_size)
        calc = setup(config)                   # the model exactly as the command line reads it
        tb, grid, n_occ = calc.system, calc.grid, calc.n_occ
        nk = grid.n_points
        print(f"# model: {tb.num_bands} Wannier functions, {len(tb.R)} R vectors, {n_occ} occupied; "
              f"grid {mesh}x{mesh}x1 = {nk} k-points in {grid.n_batches} batches of "
              f"{int(np.prod(grid.n_fft))}; set-up {time.perf_counter() - t0:.1f} s", flush=True)

        h = np.ascontiguousarray(tb.derivatives(all_k(grid)).H)      # H(k) of every grid point
        energies = np.linalg.eigvalsh(h)
        efermi = 0.5 * (energies[:, n_occ - 1].max() + energies[:, n_occ].min())
        jobs = {"ours": lambda: integrate(tb, grid, Occupation(n_occ)), "eigh": lambda: np.linalg.eigh(h)}
        nkfft = None
        try:
            jobs["ahc"], nkfft = wannierberri_ahc(tb, mesh, efermi, work)
        except ImportError as exc:
            print(f"# WannierBerri not available ({exc}): pip install -e '.[wannierberri]'")
        # warm up each, then interleave the repeats so that load from elsewhere hits all alike
        times = {name: [] for name in jobs}
        for job in jobs.values():
            job()
        for _ in range(repeats):
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - start)
        ours, ours_all = statistics.median(times["ours"]), times["ours"]
        eigh, eigh_all = statistics.median(times["eigh"]), times["eigh"]
        ahc, ahc_all = (statistics.median(times["ahc"]), times["ahc"]) if "ahc" in times else (float("nan"), [])
        del jobs

        # the command line, serial and under mpiexec, interleaved; medians of the repeats
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        have_mpi = os.access(mpiexec, os.X_OK)
        if not have_mpi:
            print(f"# no {mpiexec}: pip install -e '.[mpich]'")
        serial, parallel = [], []
        for _ in range(min(repeats, 3)):
            serial.append(cli_run(config, os.path.join(work, "serial"), None))
            if have_mpi:
                parallel.append(cli_run(config, os.path.join(work, "mpi"), args.ranks))
        serial_wall = statistics.median(w for w, _ in serial)
        engine_1 = statistics.median(r[0]["engine_s"] for _, r in serial)
        serial_ranks = serial[-1][1]
        if have_mpi:
            with open(os.path.join(work, "serial", "result.json")) as a, \
                    open(os.path.join(work, "mpi", "result.json")) as b:
                same = json.load(a)["chi"] == json.load(b)["chi"]
            par_wall = statistics.median(w for w, _ in parallel)
            engine_n = statistics.median(max(x["engine_s"] for x in r) for _, r in parallel)
            par_ranks = parallel[-1][1]
            efficiency = engine_1 / (args.ranks * engine_n)
            efficiency_wall = serial_wall / (args.ranks * par_wall)
            peak = max(x["maxrss_MB"] for _, r in parallel for x in r)
        else:
            par_wall = engine_n = efficiency = efficiency_wall = peak = float("nan")
            same, par_ranks = None, []

        us = 1e6 / nk
        print(f"ratio_vs_wannierberri_ahc: {ours / ahc:.3f}")
        print(f"ratio_vs_bare_eigh: {ours / eigh:.3f}")
        print(f"parallel_efficiency_{args.ranks}_ranks: {efficiency:.3f}")
        print(f"peak_memory_per_rank_MB: {peak:.0f}")
        print(f"# ours (engine, serial):     {ours:8.3f} s = {ours * us:7.1f} us/k-point  "
              f"(runs: {', '.join(f'{t:.3f}' for t in ours_all)})")
        if nkfft is not None:
            print(f"# WannierBerri AHC (serial): {ahc:8.3f} s = {ahc * us:7.1f} us/k-point  "
                  f"(NKFFT {nkfft}x{nkfft}; runs: {', '.join(f'{t:.3f}' for t in ahc_all)})")
        print(f"# bare numpy eigh of H(k):   {eigh:8.3f} s = {eigh * us:7.1f} us/k-point  "
              f"(runs: {', '.join(f'{t:.3f}' for t in eigh_all)})")
        print(f"# CLI serial: engine {engine_1:.3f} s, wall {serial_wall:.3f} s (medians of "
              f"{len(serial)}), peak {serial_ranks[0]['hwm_MB']:.0f} MB (VmHWM)")
        if par_ranks:
            per_rank = ", ".join(f"{r['engine_s']:.3f}" for r in par_ranks)
            per_rank_mb = ", ".join(f"{r['maxrss_MB']:.0f}/{r['hwm_MB']:.0f}" for r in par_ranks)
            print(f"# CLI mpiexec -n {args.ranks}: engine {engine_n:.3f} s (per rank: {per_rank}), "
                  f"wall {par_wall:.3f} s, peak per rank (ru_maxrss/VmHWM) {per_rank_mb} MB; "
                  f"chi identical to serial: {same}")
            print(f"# parallel efficiency, wall clock incl. start-up and input: {efficiency_wall:.3f}")
        if args.profile:
            profile_engine(calc)
    finally:
        if args.keep:
            print(f"# work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
