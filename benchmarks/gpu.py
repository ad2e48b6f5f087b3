#!/usr/bin/env python
"""The torch backend on a CUDA device against the numpy engine on one CPU core.

    .venv/bin/python benchmarks/gpu.py                 # N = 16, 32, 64 Wannier functions
    .venv/bin/python benchmarks/gpu.py --mesh 192 --batch-size 36864

For each N: the random gapped model of ``benchmarks/run.py`` (written as Wannier90
files and read back), the uniform engine on an ``n x n x 1`` mesh, serial, once with
numpy on one core (OMP/OpenBLAS threads = 1) and once with ``device = "gpu"`` (the
same code through torch on the GPU; large batches); after a warm-up, the median of
``--repeats`` interleaved runs.  Prints ``gpu_speedup_vs_one_core_N<N>: X`` (numpy
time / GPU time) and checks that both give the same chi to 1e-10 relative.

Without a CUDA device (or without torch) it says so and measures nothing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def cuda_present() -> str | None:
    """None if a CUDA device can be used, else the reason why not."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install 'wanphonon[gpu]')"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--mesh", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=9216)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu",
                   help="cpu: torch on the CPU instead, to try the script without a GPU (prints "
                        "torch_cpu_speedup_... lines)")
    args = p.parse_args()
    reason = cuda_present() if args.device == "gpu" else None
    if reason is not None:
        print(f"# no CUDA device is present: {reason}; nothing was measured")
        for n in args.sizes:
            print(f"gpu_speedup_vs_one_core_N{n}: nan")
        return
    import torch

    from run import random_model, write_inputs   # benchmarks/run.py: the model as Wannier90 files
    from wanphonon.api import compute, setup
    dev = args.device
    name = torch.cuda.get_device_name(0) if dev == "gpu" else "CPU"
    print(f"# device: {name}, torch {torch.__version__}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_inputs(random_model(n), tmp, args.mesh, args.batch_size)
            calc = setup(config)
            times = {"numpy": [], dev: []}
            results = {}
            for device in ("numpy", dev):                         # warm-up
                results[device] = compute(calc, device=device)
            for _ in range(args.repeats):
                for device in ("numpy", dev):
                    t = time.perf_counter()
                    compute(calc, device=device)
                    if device == "gpu":
                        torch.cuda.synchronize()
                    times[device].append(time.perf_counter() - t)
            a, b = results["numpy"].values, results[dev].values
            scale = max(abs(v) for v in a.values())
            diff = max(abs(a[k] - b[k]) for k in a) / scale
            t_np, t_dev = statistics.median(times["numpy"]), statistics.median(times[dev])
            nk = results["numpy"].points
            print(f"# N = {n}: {nk} k-points, numpy {1e6 * t_np / nk:.1f} us/k, {dev} {1e6 * t_dev / nk:.2f} "
                  f"us/k, largest relative difference of chi {diff:.1e}")
            label = "gpu_speedup_vs_one_core" if dev == "gpu" else "torch_cpu_speedup_vs_numpy"
            print(f"{label}_N{n}: {t_np / t_dev:.2f}")


if __name__ == "__main__":
    main()
