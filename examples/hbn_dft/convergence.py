#!/usr/bin/env python3
"""Convergence of the monolayer-hBN results (examples/hbn_dft) in k-mesh and displacement.

Prints two tables:

(a) k-mesh: the Gamma E' chiral optical mode (the set-up of mode_Eprime.toml: B and N
    displaced by +-0.01 A along x and y, u_N = -(m_B/m_N) u_B) on n x n x 1 meshes,
    n = 12, 24, 48, 96.  Columns: the total in-plane Born charges Z*_B and Z*_N
    (electronic + pseudopotential valence, (xx + yy)/2, e), the chi terms of the mode
    (1/A^2, spin degeneracy 2 included) and the mode's moment per phonon quantum (mu_N).

(b) displacement: B alone displaced (the set-up of wanphonon.toml) on the 48 x 48 x 1 mesh,
    with dH/du from the +-0.01 A runs only (central difference), the +-0.02 A runs only
    (central difference) and all four amplitudes (fourth-order stencil).  Columns: Z*_B,
    chi total, and the error indicators wanphonon reports in
    result.system["dH_du_error"]: the Richardson estimate (relative difference
    between the fourth-order and the second-order fit; only with four amplitudes) and the
    asymmetry |H(+u) + H(-u) - 2 H(0)| / |H(+u) - H(-u)| of each +- pair.  A last column
    gives the E' mode moment when the B runs of that row are combined with the N +-0.01 A
    runs (N has no +-0.02 A runs).

The configurations are built here as dictionaries; the Wannier90 files are found relative
to this script.  Runs serially (about 10 s on 2 cores).

    .venv/bin/python examples/hbn_dft/convergence.py
"""

from __future__ import annotations

import os
import time

import numpy as np

import wanphonon

HERE = os.path.dirname(os.path.abspath(__file__))
WANNIER = os.path.join(HERE, "wannier")

KMESHES = (12, 24, 48, 96)
DISPLACEMENT_MESH = 48
MASS_RATIO_N = -0.771828          # u_N = -(m_B/m_N) u_B (ASE masses 10.811, 14.007)
PH_X = {"B": 2.706873, "N": -2.706134}   # dft_born_charges.json, in-plane

# seed names of the displaced runs: (ion, seed, u in A)
B_RUNS = {
    0.01: [("B", "B_xp", [0.01, 0.0]), ("B", "B_xm", [-0.01, 0.0]),
           ("B", "B_yp", [0.0, 0.01]), ("B", "B_ym", [0.0, -0.01])],
    0.02: [("B", "B_x2p", [0.02, 0.0]), ("B", "B_x2m", [-0.02, 0.0]),
           ("B", "B_y2p", [0.0, 0.02]), ("B", "B_y2m", [0.0, -0.02])],
}
N_RUNS = [("N", "N_xp", [0.01, 0.0]), ("N", "N_xm", [-0.01, 0.0]),
          ("N", "N_yp", [0.0, 0.01]), ("N", "N_ym", [0.0, -0.01])]


def config(runs, mesh: int, mode: bool) -> dict:
    """A wanphonon configuration dictionary (TOML shape) for the given displaced runs."""
    displacements = []
    for ion, seed, u in runs:
        d = {"seedname": os.path.join(WANNIER, seed), "u": list(u)}
        if ion != "B":
            d["ion"] = ion
        displacements.append(d)
    phonon = {"species": "B"}
    if mode:
        phonon.update({"pattern": {"N": MASS_RATIO_N}, "valence": {"B": 3, "N": 5}})
    else:
        phonon.update({"valence": 3, "mode_weight": 0.5644})
    return {"wannier": {"seedname": os.path.join(WANNIER, "eq")},
            "displacement": displacements,
            "electrons": {"occupied_bands": 4, "spin_degeneracy": 2},
            "kmesh": {"size": [mesh, mesh, 1]},
            "phonon": phonon}


def inplane(z) -> float:
    z = np.asarray(z)
    return 0.5 * (z[0, 0] + z[1, 1])


def table_kmesh() -> None:
    print("(a) k-mesh convergence: Gamma E' mode (B and N runs, +-0.01 A, central differences)")
    print("    Z* in e (total = electronic + valence, in-plane (xx+yy)/2); chi in 1/A^2; "
          "moment per phonon quantum")
    head = (f"{'mesh':>8} {'Z*_B':>9} {'Z*_N':>9} {'born':>11} {'energy':>11} {'topological':>11} "
            f"{'nontopol.':>11} {'total':>11} {'mu/mu_N':>10} {'time/s':>6}")
    print(head)
    print("-" * len(head))
    for n in KMESHES:
        t0 = time.perf_counter()
        r = wanphonon.run(config(B_RUNS[0.01] + N_RUNS, n, mode=True))
        dt = time.perf_counter() - t0
        per_ion = r.born_charge_per_ion
        c = r.chi
        print(f"{f'{n}x{n}x1':>8} {inplane(per_ion['B']['total']):9.5f} "
              f"{inplane(per_ion['N']['total']):9.5f} {c['born']:11.7f} {c['energy']:11.7f} "
              f"{c['topological']:11.7f} {c['nontopological']:11.7f} {c['total']:11.7f} "
              f"{r.moment['nuclear_magneton']:10.6f} {dt:6.1f}")
    print(f"    ph.x (DFPT): Z*_B = {PH_X['B']:.3f}, Z*_N = {PH_X['N']:.3f}")


def _errors(r) -> dict[str, str]:
    """Richardson estimate and the asymmetry of each +- pair, keyed 'rich', 'x0.01', 'y0.02', ..."""
    err = r.system["dH_du_error"]["B"]
    rich = err.get("richardson_relative")
    out = {"rich": "-" if rich is None else f"{rich:.2e}"}
    for a in err.get("asymmetry", []):
        ux, uy = a["u_A"]
        out[f"{'x' if ux else 'y'}{abs(ux or uy):.2f}"] = f"{a['asymmetry']:.4f}"
    return out


def table_displacement() -> None:
    n = DISPLACEMENT_MESH
    print(f"(b) displacement convergence: B displaced, {n}x{n}x1 mesh; Z*_B in e, chi in 1/A^2")
    print("    Richardson: |dH/du(4th order) - dH/du(2nd order)| / |dH/du|; asymmetry of the pair "
          "+-u: |H(+u) + H(-u) - 2 H(0)| / |H(+u) - H(-u)|")
    pairs = ("x0.01", "y0.01", "x0.02", "y0.02")
    head = (f"{'B runs (stencil)':<30} {'Z*_B':>9} {'chi total':>11} {'Richardson':>10} "
            + " ".join(f"{'asym ' + p[0] + ' ' + p[1:]:>11}" for p in pairs)
            + f" {'E: mu/mu_N':>11}")
    print(head)
    print("-" * len(head))
    rows = [("+-0.01 A (central, O(d^2))", B_RUNS[0.01]),
            ("+-0.02 A (central, O(d^2))", B_RUNS[0.02]),
            ("all four (4th order, O(d^4))", B_RUNS[0.01] + B_RUNS[0.02])]
    for label, runs in rows:
        r = wanphonon.run(config(runs, n, mode=False))
        rm = wanphonon.run(config(runs + N_RUNS, n, mode=True))
        e = _errors(r)
        print(f"{label:<30} {inplane(r.born_charge_total):9.5f} {r.chi['total']:11.7f} {e['rich']:>10} "
              + " ".join(f"{e.get(p, '-'):>11}" for p in pairs)
              + f" {rm.moment['nuclear_magneton']:11.6f}")
    print("    chi total: B alone moving (not the E' mode).  E: the E' mode moment with these B runs "
          "and the N +-0.01 A runs.")


def main() -> None:
    t0 = time.perf_counter()
    table_kmesh()
    print()
    table_displacement()
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
