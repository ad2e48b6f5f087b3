#!/usr/bin/env python
"""Is the adaptive error estimate honest?  Estimate against actual error on six small-gap models.

    .venv/bin/python benchmarks/adaptive_honesty.py                      # ~7 minutes on one core
    .venv/bin/python benchmarks/adaptive_honesty.py --references refs.json   # keep the references

For each model (benchmarks/README.md, "Honesty of the adaptive error estimate"): a uniform
reference (meshes doubled in every direction until the finest one's error, extrapolated from
the last two differences as in ``benchmarks/adaptive.py``, is below 1e-7 relative on chi
total, or the list ends), then adaptive runs at ``[kmesh] tolerance`` 1e-2, 1e-3, 1e-4.
Per run: the k-points, the reported error estimate of chi total (``convergence.chi_error``)
and the actual error ``|chi_total - reference|``, both relative to the reference, and whether
estimate >= actual + the reference's own extrapolated error.  ``--references FILE`` reads the
references from FILE when it holds them and writes them there otherwise (the models and
meshes are part of the key).  Prints a Markdown table; ``#`` lines give details.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (ROOT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from adaptive import chi_total, extrapolated_error, timed  # noqa: E402  (benchmarks/adaptive.py)
from wanphonon.api import setup  # noqa: E402

TOLERANCES = (1e-2, 1e-3, 1e-4)
#: The uniform reference must be this accurate (relative, extrapolated).
REFERENCE_ACCURACY = 1e-7


def _doubling(first, steps):
    return [tuple(n * 2 ** s if n > 1 else 1 for n in first) for s in range(steps)]


CD3AS2 = {"name": "cd3as2_dirac_lattice", "a": 12.633, "c": 25.427}
GRAPHENE = {"name": "graphene_dirac_lattice", "a": 2.46}
#: label, model, uniform meshes (doubling), 3D
CASES = [
    ("Cd3As2 lattice, delta0 = -0.05 eV", {**CD3AS2, "delta0": -0.05}, _doubling((8, 8, 4), 5), True),
    ("Cd3As2 lattice, delta0 = -0.02 eV", {**CD3AS2, "delta0": -0.02}, _doubling((8, 8, 4), 5), True),
    ("Cd3As2 lattice, delta0 = -0.01 eV", {**CD3AS2, "delta0": -0.01}, _doubling((24, 24, 12), 4), True),
    ("2D Dirac lattice, delta = 0.2 eV", {**GRAPHENE, "delta": 0.2}, _doubling((32, 32, 1), 6), False),
    ("2D Dirac lattice, delta = 0.05 eV", {**GRAPHENE, "delta": 0.05}, _doubling((64, 64, 1), 6), False),
    ("2D Dirac lattice, delta = 0.02 eV", {**GRAPHENE, "delta": 0.02}, _doubling((96, 96, 1), 6), False),
]


def reference(label, model, meshes) -> dict:
    """chi_total on the doubling sequence, stopped at REFERENCE_ACCURACY: value and error."""
    uniform = []
    for mesh in meshes:
        calc = setup({"model": model, "kmesh": {"size": list(mesh)}})
        res, dt = timed(calc)
        uniform.append((mesh, res.points, chi_total(calc, res), dt))
        print(f"#   {label}: uniform {mesh}: chi_total = {uniform[-1][2]:.12e}, {dt:.1f} s", flush=True)
        if len(uniform) > 2 and extrapolated_error(uniform) < REFERENCE_ACCURACY * abs(uniform[-1][2]):
            break
    return {"mesh": list(uniform[-1][0]), "value": uniform[-1][2], "error": extrapolated_error(uniform)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--references", help="JSON file of the uniform references (read, or written)")
    args = p.parse_args()
    stored = {}
    if args.references and os.path.exists(args.references):
        with open(args.references) as fh:
            stored = json.load(fh)
    rows = []
    for label, model, meshes, three_d in CASES:
        key = json.dumps([model, meshes], sort_keys=True)
        if key not in stored:
            stored[key] = reference(label, model, meshes)
            if args.references:
                with open(args.references, "w") as fh:
                    json.dump(stored, fh, indent=1)
        ref = stored[key]
        print(f"#   {label}: reference {ref['value']:.12e} (uniform {tuple(ref['mesh'])}, extrapolated "
              f"error {ref['error'] / abs(ref['value']):.1e} relative)", flush=True)
        for tol in TOLERANCES:
            calc = setup({"model": model, "kmesh": {"size": [8, 8, 8 if three_d else 1], "tolerance": tol}})
            res, dt = timed(calc)
            est = calc.setting.spin_degeneracy * res.errors["total"]
            actual = abs(chi_total(calc, res) - ref["value"])
            scale = abs(ref["value"])
            rows.append((label, tol, res.points, est / scale, actual / scale,
                         est >= actual + ref["error"], res.converged))
            print(f"#   {label}: tolerance {tol:g}: {res.points} k-points, {len(res.history)} levels, "
                  f"{dt:.1f} s, estimate {est / scale:.2e}, actual {actual / scale:.2e}", flush=True)
    print("| model | tolerance | adaptive k-points | error estimate | actual error | estimate / actual | honest |")
    print("|---|---|---|---|---|---|---|")
    for label, tol, points, est, actual, honest, converged in rows:
        print(f"| {label} | {tol:g} | {points} | {est:.1e} | {actual:.1e} | {est / actual:.1f} | "
              f"{'yes' if honest else '**no**'}{'' if converged else ' (not converged)'} |")
    print(f"honest_runs: {sum(r[5] for r in rows)}/{len(rows)}")
    print(f"min_estimate_over_actual: {min(r[3] / r[4] for r in rows):.2f}")


if __name__ == "__main__":
    main()
