#!/usr/bin/env python
"""Adaptive against uniform integration at the same accuracy, in one run.

    .venv/bin/python benchmarks/adaptive.py            # ~2 minutes on one core
    .venv/bin/python benchmarks/adaptive.py --repeats 5

Two small-gap lattice models (benchmarks/README.md, "Adaptive integration"):

(a) ``cd3as2_dirac_lattice``, kz-integrated, a = 12.633 A, c = 25.427 A (the Cd3As2
    cell), Delta0 = -0.02 eV (direct gap 40 meV at Gamma), other parameters the paper's;
(b) ``graphene_dirac_lattice``, a = 2.46 A, v = 5.539 eV A, zeta = 12 eV/A (the
    defaults) with a small mass Delta = 0.05 eV (gap 0.1 eV).

For each: the uniform engine on meshes doubled in every direction (equal k-spacing:
``n_i`` proportional to the reciprocal vector's length) until the finest one's error,
extrapolated from the last two differences (exponential convergence: each doubling
squares the error), is below 1e-6 relative on chi total, or the list ends (the estimate is
printed); the finest is the reference.  The smallest mesh of the sequence within ``tolerance`` (1e-3) of the
reference is "the uniform grid"; the adaptive run asks for ``tolerance = 1e-3``.
Ratios: adaptive k-points / uniform k-points, and the median times (``api.compute``,
one core, interleaved repeats).  Lines ``name: value``; ``#`` lines give details.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from wanphonon.api import compute, setup  # noqa: E402
from wanphonon.results import chi_terms  # noqa: E402

TOLERANCE = 1e-3
#: The uniform reference must be this accurate (relative, extrapolated).
REFERENCE_ACCURACY = 1e-6

CASES = {
    "cd3as2": ({"name": "cd3as2_dirac_lattice", "a": 12.633, "c": 25.427, "delta0": -0.02},
               [(8, 8, 4), (16, 16, 8), (32, 32, 16), (64, 64, 32), (128, 128, 64)]),
    "graphene": ({"name": "graphene_dirac_lattice", "a": 2.46, "delta": 0.05},
                 [(32, 32, 1), (64, 64, 1), (128, 128, 1), (256, 256, 1), (512, 512, 1),
                  (1024, 1024, 1)]),
}


def extrapolated_error(uniform) -> float:
    """Error of the finest of a doubling sequence under exponential convergence: the last
    difference squared over the one before (each doubling squares the error)."""
    d1 = abs(uniform[-1][2] - uniform[-2][2])
    d0 = abs(uniform[-2][2] - uniform[-3][2])
    return d1 * d1 / d0 if d0 else d1


def chi_total(calc, integrals) -> float:
    return chi_terms(integrals.values, calc.setting.spin_degeneracy)["total"]


def timed(calc):
    t = time.perf_counter()
    res = compute(calc)
    return res, time.perf_counter() - t


def run_case(name: str, repeats: int) -> dict:
    model, meshes = CASES[name]
    uniform = []
    for mesh in meshes:
        calc = setup({"model": model, "kmesh": {"size": list(mesh)}})
        res, dt = timed(calc)
        uniform.append((mesh, res.points, chi_total(calc, res), dt))
        print(f"#   {name} uniform {mesh}: {res.points} k-points, chi_total = {uniform[-1][2]:.12e}, "
              f"{dt:.2f} s", flush=True)
        if len(uniform) > 2 and extrapolated_error(uniform) < REFERENCE_ACCURACY * abs(uniform[-1][2]):
            break
    ref = uniform[-1][2]
    print(f"#   {name}: reference error estimate (exponential convergence, d_n^2 / d_(n-1)): "
          f"{extrapolated_error(uniform) / abs(ref):.1e} relative")
    chosen = next(u for u in uniform if abs(u[2] - ref) <= TOLERANCE * abs(ref))
    three_d = meshes[0][2] > 1
    adaptive_calc = setup({"model": model, "kmesh": {"size": [8, 8, 8 if three_d else 1],
                                                        "tolerance": TOLERANCE}})
    uniform_calc = setup({"model": model, "kmesh": {"size": list(chosen[0])}})
    timed(adaptive_calc)                       # warm-up
    t_a, t_u = [], []
    for _ in range(repeats):                   # interleaved: load hits both alike
        res_a, dt = timed(adaptive_calc)
        t_a.append(dt)
        _, dt = timed(uniform_calc)
        t_u.append(dt)
    chi_a = chi_total(adaptive_calc, res_a)
    err_est = adaptive_calc.setting.spin_degeneracy * res_a.errors["total"]
    # the uniform mesh that reaches the adaptive run's actual error, for the record
    actual = abs(chi_a - ref) / abs(ref)
    same_actual = next((u for u in uniform if abs(u[2] - ref) <= actual * abs(ref)), uniform[-1])
    print(f"#   {name} adaptive (tolerance {TOLERANCE:g}): {res_a.points} k-points, "
          f"{len(res_a.history)} levels, chi_total = {chi_a:.12e}, estimated error {err_est:.2e} "
          f"({err_est / abs(chi_a):.2e} relative), actual error {actual:.2e}, "
          f"converged {res_a.converged}")
    print(f"#   {name} reference (uniform {uniform[-1][0]}): {ref:.12e}; smallest uniform within "
          f"{TOLERANCE:g}: {chosen[0]} = {chosen[1]} k-points (error "
          f"{abs(chosen[2] - ref) / abs(ref):.2e}); within the adaptive's actual error: "
          f"{same_actual[0]} = {same_actual[1]} k-points")
    print(f"#   {name} times (s, {repeats} interleaved repeats): adaptive {[round(t, 3) for t in t_a]}, "
          f"uniform {[round(t, 3) for t in t_u]}")
    return {"kpoints": res_a.points / chosen[1],
            "time": statistics.median(t_a) / statistics.median(t_u),
            "kpoints_same_actual": res_a.points / same_actual[1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    a = run_case("cd3as2", args.repeats)
    b = run_case("graphene", args.repeats)
    print(f"kpoint_ratio_adaptive_vs_uniform: {a['kpoints']:.4f}")
    print(f"time_ratio_adaptive_vs_uniform: {a['time']:.4f}")
    print(f"kpoint_ratio_adaptive_vs_uniform_2d: {b['kpoints']:.4f}")
    print(f"time_ratio_adaptive_vs_uniform_2d: {b['time']:.4f}")
    print(f"# kpoint ratio against the uniform mesh that reaches the adaptive run's actual error: "
          f"(a) {a['kpoints_same_actual']:.4f}, (b) {b['kpoints_same_actual']:.4f}")


if __name__ == "__main__":
    main()
