#!/usr/bin/env python3
"""wanphonon's integrands as WannierBerri calculators, on the hBN example.

Builds a WannierBerri ``System_R`` from the hBN frozen-phonon Wannier90 runs of
``examples/hbn_dft`` (H(R), dH(R)/du of the B ion, moving Wannier centres),
integrates the second Chern form terms and the Born-charge integrand with
``wannierberri.run`` and converts them to physical units:

* ``SecondChernForm`` -> ``int d^2k/(2 pi)^2`` of each integrand, per spin, in 1/A^2;
  times the spin degeneracy g_s it is wanphonon's ``chi`` (result.json);
* ``BornCharge`` -> ``int d^2k/(2 pi)^2 Tr Omega_{k_i u_j}``, per spin, in 1/A^2;
  times g_s and the cell area A_c it is the electronic Born charge in units of e, and
  adding the ionic valence (3 for B) gives Z*.

WannierBerri writes its result files into ``--out`` (default: a temporary directory,
removed at the end); nothing is written to the current directory.

    python examples/wannierberri/hbn_born_charge.py [--mesh 24] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

HBN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hbn_dft", "wanphonon.toml")


def born_charge_with_wannierberri(mesh: int = 24, out_dir: str | None = None) -> dict:
    """Integrate the hBN model with WannierBerri on a ``mesh x mesh`` grid.

    Returns ``{"chi": {term: 1/A^2, g_s included}, "born_charge": (3, 2) e (electronic),
    "born_charge_total": (3, 2) e (valence added), "spin_degeneracy", "cell_area": A^2}``.
    """
    import wannierberri as wb

    from wanphonon.api import setup
    from wanphonon.interfaces.wannierberri import (BornCharge, SecondChernForm, born_charge,
                                                   chi_terms, system_from_tight_binding)

    calc = setup(HBN)                         # reads the Wannier90 runs, builds dH(R)/du
    g_s = calc.setting.spin_degeneracy        # 2: spinless Wannier functions
    system = system_from_tight_binding(calc.system)
    area = system.wanphonon_cell_measure      # A^2
    grid = wb.Grid(system, NK=(mesh, mesh, 1), NKFFT=(mesh, mesh, 1), use_symmetry=False)
    calculators = {"chern2": SecondChernForm(n_occ=calc.n_occ),       # per spin, 1/A^2
                   "born_charge": BornCharge(n_occ=calc.n_occ)}       # per spin, 1/A^2
    with tempfile.TemporaryDirectory() as tmp:
        folder = out_dir or tmp
        os.makedirs(folder, exist_ok=True)
        res = wb.run(system, grid, calculators=calculators, parallel=False, use_irred_kpt=False,
                     symmetrize=False, fout_name=os.path.join(folder, "hbn"),
                     print_progress_step_time=1e9)
    per_spin = chi_terms(res.results["chern2"])
    z_electronic = g_s * area * born_charge(res.results["born_charge"])      # e
    return {"chi": {k: g_s * v for k, v in per_spin.items()}, "born_charge": z_electronic,
            "born_charge_total": z_electronic + calc.setting.valence * np.eye(3, 2),
            "spin_degeneracy": g_s, "cell_area": area}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh", type=int, default=24, help="k-points along each in-plane direction")
    p.add_argument("--out", default=None, help="folder for WannierBerri's files (default: none kept)")
    args = p.parse_args(argv)
    r = born_charge_with_wannierberri(args.mesh, args.out)
    print(f"hBN, B ion, {args.mesh} x {args.mesh} k-points, g_s = {r['spin_degeneracy']}, "
          f"A_c = {r['cell_area']:.4f} A^2")
    for term in ("born_a", "born_b", "energy", "total"):
        print(f"  chi[{term}] = {r['chi'][term]:+.6f} 1/A^2")
    z = r["born_charge_total"]
    print(f"  Z*(B) = {z[0, 0]:.4f} e (xx), {z[1, 1]:.4f} e (yy); electronic part "
          f"{r['born_charge'][0, 0]:+.4f} e")


if __name__ == "__main__":
    main()
