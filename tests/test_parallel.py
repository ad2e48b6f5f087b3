"""MPI runs and resumable runs give the serial result, bit for bit.

The engine deals batches round-robin to the ranks and rank 0 adds the per-batch
rows in batch order, so ``mpiexec -n N`` must reproduce the serial numbers for
any N, and a run killed with SIGKILL and continued with ``--resume`` (with any
number of ranks) must reproduce the uninterrupted run.  The MPI tests run the
real command line under ``.venv/bin/mpiexec`` (the ``mpich`` wheel) and are
skipped when it is missing; the thread-based tests check the engine's
collective logic without MPI.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from wanphonon.api import as_config, build, run, setup
from wanphonon.engine.checkpoint import Checkpoint
from wanphonon.engine.integrate import BatchSums, Occupation, integrate
from wanphonon.errors import GapClosedError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HBN = os.path.join(ROOT, "examples", "hbn_dft")
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

needs_mpiexec = pytest.mark.skipif(
    not os.access(MPIEXEC, os.X_OK),
    reason=f"no mpiexec next to {sys.executable} (pip install -e '.[mpich]': mpi4py and the mpich wheel)")

GRAPHENE = """\
[model]
name = "graphene_dirac_lattice"
delta = 0.3
zeta = 0.5
v = 1.0
a = 1.0
{model}
[kmesh]
size = {size}
batch_size = {batch}
{kmesh}
"""


def graphene(tmp_path, name="graphene.toml", size=(48, 48, 1), batch=256, model="", kmesh="", extra=""):
    path = tmp_path / name
    path.write_text(GRAPHENE.format(size=list(size), batch=batch, model=model, kmesh=kmesh) + extra)
    return str(path)


def hbn(tmp_path):
    """The hBN Wannier example (nonzero Born charges, moving centres) on 48 batches."""
    with open(os.path.join(HBN, "wanphonon.toml")) as fh:
        text = fh.read()
    text = text.replace('"wannier/', '"' + os.path.join(HBN, "wannier") + "/")
    text = text.replace("size = [48, 48, 1]", "size = [24, 24, 1]\nbatch_size = 12")
    path = tmp_path / "hbn.toml"
    path.write_text(text)
    return str(path)


def cli(*args, ranks=None, timeout=120):
    cmd = [sys.executable, "-m", "wanphonon.cli", "run", *args, "-q"]
    if ranks is not None:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)        # a hung run: end the launcher and every rank
        proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not end within {timeout} s (a rank left waiting?)")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def result(out):
    with open(os.path.join(out, "result.json")) as fh:
        return json.load(fh)


def assert_same(a, b, rel=1e-12):
    """chi and born_charge agree to ``rel`` relative (of the largest entry)."""
    for key in a["chi"]:
        x, y = a["chi"][key], b["chi"][key]
        scale = max(abs(v) for v in a["chi"].values())
        assert abs(x - y) <= rel * scale, (key, x, y)
    za, zb = np.array(a["born_charge"]), np.array(b["born_charge"])
    assert np.all(np.abs(za - zb) <= rel * max(np.abs(za).max(), 1e-300)), (za, zb)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """Serial results of the two models, computed once."""
    tmp = tmp_path_factory.mktemp("serial")
    out = {}
    for name, cfg in (("graphene", graphene(tmp)), ("hbn", hbn(tmp))):
        proc = cli(cfg, "--out", str(tmp / name))
        assert proc.returncode == 0, proc.stderr
        out[name] = (cfg, result(tmp / name))
    return out


def test_models_have_many_batches_and_nonzero_born_charges(serial):
    g = serial["graphene"][1]
    assert g["grid"]["points"] // np.prod(g["grid"]["fft_submesh"]) == 12
    h = serial["hbn"][1]
    assert h["grid"]["points"] // np.prod(h["grid"]["fft_submesh"]) == 48
    assert abs(h["born_charge"][0][0]) > 0.1       # not a trivially vanishing comparison


@needs_mpiexec
@pytest.mark.parametrize("model", ["graphene", "hbn"])
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_mpi_ranks_reproduce_serial_result(tmp_path, serial, model, ranks):
    cfg, ref = serial[model]
    proc = cli(cfg, "--out", str(tmp_path / "out"), ranks=ranks)
    assert proc.returncode == 0, proc.stderr
    res = result(tmp_path / "out")
    assert res["provenance"]["mpi_ranks"] == ranks
    assert_same(res, ref, rel=1e-12)               # (bit-identical in practice)


def start_and_kill(cfg, out, ranks=None):
    """Start a run, SIGKILL it (all ranks) once ``checkpoint/rank0.npz`` exists."""
    cmd = [sys.executable, "-m", "wanphonon.cli", "run", cfg, "--out", out, "-q"]
    if ranks is not None:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = os.path.join(out, "checkpoint", "rank0.npz")
    deadline = time.monotonic() + 60
    try:
        while not os.path.exists(marker):
            assert proc.poll() is None, "the run ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.002)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)        # the launcher and every rank
        proc.wait()
    assert not os.path.exists(os.path.join(out, "result.json")), "killed too late: run had finished"
    done = set()
    for f in os.listdir(os.path.join(out, "checkpoint")):
        if f.endswith(".npz"):
            with np.load(os.path.join(out, "checkpoint", f)) as data:
                done.update(data["indices"].tolist())
    return done


N_RESUME_BATCHES = 324      # 144 x 144 mesh, 64 points per batch


@pytest.fixture(scope="module")
def resume_case(tmp_path_factory):
    """A many-batch run that writes a checkpoint after every batch, and its uninterrupted result."""
    tmp = tmp_path_factory.mktemp("resume")
    cfg = graphene(tmp, "resume.toml", size=(144, 144, 1), batch=64,
                   extra="[run]\ncheckpoint_interval_s = 0\n")
    # the reference saves no per-batch checkpoints (faster); the numbers do not depend on it
    proc = cli(graphene(tmp, "reference.toml", size=(144, 144, 1), batch=64), "--out", str(tmp / "ref"))
    assert proc.returncode == 0, proc.stderr
    assert not (tmp / "ref" / "checkpoint").exists()
    return cfg, result(tmp / "ref")


@pytest.mark.parametrize("ranks", [
    pytest.param((None, None), id="serial-killed-serial-resumed"),
    pytest.param((2, 3), id="2-ranks-killed-3-resumed", marks=needs_mpiexec),
    pytest.param((3, None), id="3-ranks-killed-serial-resumed", marks=needs_mpiexec),
])
def test_resume_after_sigkill_reproduces_uninterrupted_run(tmp_path, resume_case, ranks):
    cfg, ref = resume_case
    killed_with, resumed_with = ranks
    out = str(tmp_path / "out")
    done = start_and_kill(cfg, out, killed_with)
    assert 0 < len(done) < N_RESUME_BATCHES
    if ranks == (None, None):
        check_checkpoint_rows_are_reused(cfg, out, tmp_path / "tampered", ref)
    proc = cli(cfg, "--out", out, "--resume", ranks=resumed_with)
    assert proc.returncode == 0, proc.stderr
    res = result(out)
    assert_same(res, ref, rel=1e-12)
    assert not os.path.exists(os.path.join(out, "checkpoint"))


def check_checkpoint_rows_are_reused(cfg, out, copy, ref):
    """Resuming uses the saved rows rather than recomputing them: a row altered in the
    checkpoint shows up in the resumed result (spin degeneracy 2)."""
    shutil.copytree(out, copy)
    path = os.path.join(copy, "checkpoint", "rank0.npz")
    with np.load(path) as data:
        saved = {key: data[key] for key in data.files}
    row = BatchSums(0, saved["rows"][0])          # a view: the change lands in saved["rows"]
    row["born_a"] = row["born_a"] + 1.0
    with open(path, "wb") as fh:
        np.savez(fh, **saved)
    res = run(cfg, str(copy), resume=True)
    assert res.chi["born_a"] - ref["chi"]["born_a"] == pytest.approx(2.0, rel=1e-9)
    assert res.chi["energy"] == ref["chi"]["energy"]


def test_resume_does_not_replace_a_finished_result(tmp_path):
    cfg = graphene(tmp_path, size=(12, 12, 1), batch=16)
    out = str(tmp_path / "out")
    assert cli(cfg, "--out", out).returncode == 0
    before = open(os.path.join(out, "result.json")).read()
    proc = cli(cfg, "--out", out, "--resume")          # a requeued job whose run had finished
    assert proc.returncode == 0 and "already finished" in proc.stdout, proc.stderr
    assert open(os.path.join(out, "result.json")).read() == before
    proc = cli(cfg, "--out", out)                      # without --resume: refused, nothing replaced
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert open(os.path.join(out, "result.json")).read() == before


@needs_mpiexec
def test_errors_end_every_rank(tmp_path):
    """An error found on one rank ends all ranks with status 2 (no rank left waiting)."""
    cfg = graphene(tmp_path, size=(12, 12, 1), batch=16)
    out = str(tmp_path / "out")
    assert cli(cfg, "--out", out).returncode == 0
    proc = cli(cfg, "--out", out, ranks=2, timeout=60)          # result already there
    assert proc.returncode == 2 and "already there" in proc.stderr
    # gap closed at k = (0, pi/a) (Wilson mass inverted there): in batch 11, dealt to rank 1
    gap = graphene(tmp_path, "gap.toml", model="delta2 = 0.075", kmesh="shift = [0, 1, 0]")
    proc = cli(gap, "--out", str(tmp_path / "gap"), ranks=2, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "direct gap" in proc.stderr and "internal error" not in proc.stderr


# --- the engine's collective logic with ranks as threads (no MPI needed) ---------------------

class _Shared:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots = [None] * size


class ThreadComm:
    """Ranks as threads; objects are pickled on the way, as mpi4py does."""

    def __init__(self, shared: _Shared, rank: int):
        self.shared, self.rank, self.size = shared, rank, shared.size

    def gather(self, obj, root=0):
        self.shared.slots[self.rank] = pickle.dumps(obj)
        self.shared.barrier.wait()
        out = [pickle.loads(s) for s in self.shared.slots] if self.rank == root else None
        self.shared.barrier.wait()
        return out

    def bcast(self, obj, root=0):
        if self.rank == root:
            self.shared.slots[root] = pickle.dumps(obj)
        self.shared.barrier.wait()
        out = pickle.loads(self.shared.slots[root])
        self.shared.barrier.wait()
        return out

    def barrier(self):
        self.shared.barrier.wait()


def run_threads(size, target):
    shared = _Shared(size)
    results, errors = [None] * size, [None] * size

    def body(rank):
        try:
            results[rank] = target(ThreadComm(shared, rank))
        except BaseException as exc:      # noqa: BLE001 - reported below
            errors[rank] = exc

    threads = [threading.Thread(target=body, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_slow_checkpoint_reader_does_not_lose_batches(tmp_path, monkeypatch):
    """Rank 0 reads the checkpoints late while rank 1 already writes its own: every batch
    must still be computed exactly once (all ranks must deal from the same todo list)."""
    calc = setup({"model": {"name": "graphene_dirac_lattice", "delta": 0.3, "zeta": 0.5, "v": 1.0,
                              "a": 1.0}, "kmesh": {"size": [24, 24, 1], "batch_size": 16}})
    reference = integrate(calc.system, calc.grid, Occupation(calc.n_occ))
    original = Checkpoint.load_all

    def slow_for_rank0(self):
        if self.rank == 0:
            time.sleep(0.5)
        return original(self)

    monkeypatch.setattr(Checkpoint, "load_all", slow_for_rank0)

    def job(comm):
        cp = Checkpoint(str(tmp_path / "cp"), "fp", comm.rank, interval_s=0.0)
        return integrate(calc.system, calc.grid, Occupation(calc.n_occ), comm=comm, checkpoint=cp)

    results, errors = run_threads(2, job)
    assert errors == [None, None], errors
    assert results[1] is None
    assert np.array_equal([b.vector for b in results[0].batches], [b.vector for b in reference.batches])


def test_gap_error_on_another_rank_reaches_every_rank():
    """A GapClosedError raised on rank 1 is re-raised on every rank (it must survive pickling).

    Built without the set-up's pre-scan, which would refuse this closed gap before any integral."""
    calc = build(as_config({"model": {"name": "graphene_dirac_lattice", "delta": 0.3, "zeta": 0.5, "v": 1.0,
                              "a": 1.0, "delta2": 0.075},
                    "kmesh": {"size": [48, 48, 1], "shift": [0, 1, 0], "batch_size": 256}}))
    assert calc.grid.n_batches == 12

    def job(comm):
        return integrate(calc.system, calc.grid, Occupation(2), comm=comm)

    results, errors = run_threads(2, job)
    for exc in errors:
        assert isinstance(exc, GapClosedError), errors
        assert "k = (0.000000, 3.141593, 0.000000)" in str(exc)


def test_ctrl_c_keeps_the_work_done(tmp_path):
    """Ctrl-C (SIGINT) with a long checkpoint interval: the batches done so far are saved on the
    way out (exit 130), and --resume (with another checkpoint interval) finishes the same result."""
    size = (720, 720, 1)
    cfg = graphene(tmp_path, "slow.toml", size=size, batch=64, extra="[run]\ncheckpoint_interval_s = 3600\n")
    t_ref = time.monotonic()
    ref = cli(graphene(tmp_path, "ref.toml", size=size, batch=64), "--out", str(tmp_path / "ref"))
    t_ref = time.monotonic() - t_ref
    assert ref.returncode == 0, ref.stderr
    out = str(tmp_path / "out")
    proc = subprocess.Popen([sys.executable, "-m", "wanphonon.cli", "run", cfg, "--out", out, "-q"],
                            env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not os.path.isdir(os.path.join(out, "checkpoint")):      # the run has started its batches
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    time.sleep(max(0.1, 0.2 * t_ref))       # well inside the batches on a fast or a loaded machine
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    with np.load(os.path.join(out, "checkpoint", "rank0.npz")) as data:
        assert 0 < len(data["indices"]) < 720 * 720 // 64
    text = open(cfg).read().replace("checkpoint_interval_s = 3600", "checkpoint_interval_s = 60")
    with open(cfg, "w") as fh:                       # [run] settings may change before --resume
        fh.write(text)
    done = cli(cfg, "--out", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert_same(result(out), result(tmp_path / "ref"), rel=1e-12)


@needs_mpiexec
def test_per_ion_channels_do_not_depend_on_the_rank_count(tmp_path):
    """hBN's E' mode with runs per ion: the ions' Born charges (extra channels of the same pass)
    and the sum rule are the same on 1 and 3 ranks."""
    with open(os.path.join(HBN, "mode_Eprime.toml")) as fh:
        text = fh.read().replace('"wannier/', '"' + os.path.join(HBN, "wannier") + "/")
    cfg = tmp_path / "mode.toml"
    cfg.write_text(text.replace("size = [48, 48, 1]", "size = [24, 24, 1]\nbatch_size = 12"))
    runs = {}
    for ranks in (None, 3):
        out = tmp_path / f"out{ranks}"
        proc = cli(str(cfg), "--out", str(out), ranks=ranks)
        assert proc.returncode == 0, proc.stderr
        runs[ranks] = result(out)
    a, b = runs[None], runs[3]
    assert_same(a, b)
    for ion in ("B", "N"):
        np.testing.assert_allclose(b["born_charge_per_ion"][ion]["total"],
                                   a["born_charge_per_ion"][ion]["total"], rtol=1e-12, atol=1e-12)
    assert b["acoustic_sum_rule"]["max_abs"] == pytest.approx(a["acoustic_sum_rule"]["max_abs"], rel=1e-9)
