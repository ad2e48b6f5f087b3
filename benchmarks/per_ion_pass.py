#!/usr/bin/env python
"""Per-ion Born charges in the same engine pass as the mode, against one pass per ion.

    .venv/bin/python benchmarks/per_ion_pass.py [--mesh 192] [--repeats 3]

hBN's Gamma E' mode (examples/hbn_dft/mode_Eprime.toml: B and N runs, 5 Wannier
functions).  ``one_pass``: ``wanphonon.api.compute`` of the mode's system, which carries
each ion's dH/du as an extra channel (the per-ion Born charges cost two extra
first-order projector blocks per ion and k-point).  ``separate_passes``: what a per-ion
Born charge cost before: the mode's pass plus one full pass per ion (the mode system
without its ion channels, and each ion's own system).  Both serial, one core, median of
``--repeats``, measured in this one run.  Prints ``name: value`` lines.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402

import numpy as np  # noqa: E402

from wanphonon.api import as_config, setup  # noqa: E402
from wanphonon.engine.integrate import integrate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "hbn_dft")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh", type=int, default=192)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with open(os.path.join(EXAMPLE, "mode_Eprime.toml"), "rb") as fh:
        raw = tomllib.load(fh)
    raw["wannier"]["seedname"] = os.path.join(EXAMPLE, raw["wannier"]["seedname"])
    for d in raw["displacement"]:
        d["seedname"] = os.path.join(EXAMPLE, d["seedname"])
    raw["kmesh"]["size"] = [args.mesh, args.mesh, 1]
    calc = setup(as_config(raw))
    tb = calc.system
    mode_only = dataclasses.replace(tb, ion_labels=(), ion_dH_R=None, ion_dcentres=None)
    ions = [dataclasses.replace(tb, dH_R=tb.ion_dH_R[m], dcentres=tb.ion_dcentres[m], ion_labels=(),
                                ion_dH_R=None, ion_dcentres=None) for m in range(len(tb.ion_labels))]

    def one_pass():
        return integrate(tb, calc.grid, calc.occupation)

    def separate_passes():
        return [integrate(s, calc.grid, calc.occupation) for s in (mode_only, *ions)]

    def timed(fn):
        fn()                                             # warm-up (FFT plans, caches)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times), out

    t_one, res = timed(one_pass)
    t_sep, parts = timed(separate_passes)
    same = max(float(np.abs(res.ion_born_charge[m] - parts[1 + m].born_charge).max())
               for m in range(len(ions)))
    print(f"mesh: {args.mesh}x{args.mesh} ({calc.grid.n_points} k-points), ions: {list(tb.ion_labels)}")
    print(f"one_pass_s: {t_one:.3f}")
    print(f"separate_passes_s: {t_sep:.3f}")
    print(f"time_ratio_one_pass_vs_separate: {t_one / t_sep:.3f}")
    print(f"max_difference_of_per_ion_born_charges: {same:.2e}")


if __name__ == "__main__":
    main()
