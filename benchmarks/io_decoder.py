#!/usr/bin/env python
"""The fixed-width decoder of wanphonon.io.text against the plain numpy route, on a large _hr.dat.

    .venv/bin/python benchmarks/io_decoder.py [--nwann 32] [--nrpts 1000] [--repeats 3]

Writes a Wannier90-format ``_hr.dat`` (``(5I5,2F12.6)``, ``nwann^2 * nrpts`` lines) to a
temporary folder and times ``wanphonon.io.hr.read_hr`` twice in this one run: as shipped (the
fixed-format route decodes the columns with numpy byte arithmetic) and with the fixed route
switched off (every number through ``numpy.fromstring(sep=' ')``, the stream route that
handles any other layout).  Both must return identical arrays.  Prints ``name: value`` lines;
``time_ratio_fixed_vs_stream`` below 1 means the fixed decoder is faster.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402

from wanphonon.io import text  # noqa: E402
from wanphonon.io.hr import read_hr  # noqa: E402
from wanphonon.io.writers import write_hr  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nwann", type=int, default=32)
    p.add_argument("--nrpts", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n, nr = args.nwann, args.nrpts
    side = int(np.ceil(nr ** (1 / 3))) + 1
    grid = np.array(np.meshgrid(*[np.arange(-side, side + 1)] * 3, indexing="ij")).reshape(3, -1).T
    R = grid[np.argsort(np.linalg.norm(grid, axis=1), kind="stable")][:nr]
    H = rng.normal(size=(nr, n, n)) + 1j * rng.normal(size=(nr, n, n))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big_hr.dat")
        write_hr(path, R, np.ones(nr, int), H)
        size_mb = os.path.getsize(path) / 1e6

        def timed():
            times, out = [], None
            for _ in range(args.repeats):
                t = time.perf_counter()
                out = read_hr(path)
                times.append(time.perf_counter() - t)
            return statistics.median(times), out

        read_hr(path)                                        # warm the page cache
        t_fixed, a = timed()
        with mock.patch.object(text, "_fixed_layout", lambda row0, ncols: None):
            t_stream, b = timed()
    same = np.array_equal(a.H, b.H) and np.array_equal(a.R, b.R)
    print(f"file: {n} WFs x {nr} R vectors = {n * n * nr} lines, {size_mb:.0f} MB")
    print(f"fixed_route_s: {t_fixed:.3f}")
    print(f"stream_route_s: {t_stream:.3f}")
    print(f"time_ratio_fixed_vs_stream: {t_fixed / t_stream:.3f}")
    print(f"identical_results: {same}")


if __name__ == "__main__":
    main()
