#!/usr/bin/env python3
"""Gap at L with GPAW's non-self-consistent SOC as a function of the number of scalar-relativistic
bands in the SOC basis (PbTe or SnTe, equilibrium, the pipeline's SCF settings).

    python examples/pbte_dft/soc_bands.py --material PbTe [--a 6.462] [--nbands 24,48,80,120,160]

One SCF (pipeline settings), then fixed-density runs at L only with more bands, each followed by
``soc_eigenstates``.  Writes ``soc_bands_<material>.json`` next to this script (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pipeline as P  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--material", choices=list(P.MATERIALS), required=True)
    p.add_argument("--a", type=float, default=None)
    p.add_argument("--nbands", default="24,48,80,120,160")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/soc_bands"))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    from gpaw.spinorbit import soc_eigenstates
    a = args.a or P.MATERIALS[args.material]["a"]
    st = dict(P.FULL)
    args.workdir.mkdir(parents=True, exist_ok=True)
    atoms = P.atoms_for(args.material, a, {})
    calc = P.make_calc(st, str(args.workdir / f"{args.material}_scf.txt"))
    atoms.calc = calc
    t0 = time.perf_counter()
    atoms.get_potential_energy()
    res = {"material": args.material, "lattice_constant_A": a, "scf_settings": st,
           "scf_s": time.perf_counter() - t0, "versions": P.versions(), "by_nbands": {}}
    nocc = int(round(calc.get_number_of_electrons())) // 2
    for nb in [int(x) for x in args.nbands.split(",")]:
        t0 = time.perf_counter()
        c = calc.fixed_density(nbands=nb, kpts=[[0.5, 0.5, 0.5]], symmetry="off",
                               convergence={"bands": nb - 4},
                               txt=str(args.workdir / f"{args.material}_nb{nb}.txt"))
        e0 = c.get_eigenvalues(kpt=0)
        es = soc_eigenstates(c).eigenvalues()[0]
        r = {"gap_L_soc_eV": float(es[2 * nocc] - es[2 * nocc - 1]),
             "gap_L_nosoc_eV": float(e0[nocc] - e0[nocc - 1]),
             "soc_levels_near_gap_eV": [float(x) for x in es[2 * nocc - 6:2 * nocc + 6]],
             "time_s": time.perf_counter() - t0}
        res["by_nbands"][nb] = r
        print(f"nbands {nb:4d}: gap at L with SOC {r['gap_L_soc_eV']:.4f} eV "
              f"(without {r['gap_L_nosoc_eV']:.4f}), {r['time_s']:.0f} s", flush=True)
    out = args.out or HERE / f"soc_bands_{args.material}.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
