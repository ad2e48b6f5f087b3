#!/usr/bin/env python3
"""Paths of PbTe through the band inversion at L, with SOC.

    python examples/pbte_dft/sweep.py --a 6.90,7.80 --workdir /tmp/pbte_sweep [--mesh 32] [--reduced]
    python examples/pbte_dft/sweep.py --path soc-scale --scale 0.4,0.6 --gpw-from /tmp/pbte \
        --workdir /tmp/pbte_scale [--mesh 64,96] [--soc-nbands 160]

``--path lattice`` (default): for each lattice constant, pipeline.py with eq and the whole TO mode
displaced (cation +-0.01 A, Te -(m_cat/m_Te) times that, along x and y: ``ion = "mode"`` runs),
SOC and no SOC.

``--path soc-scale``: the experimental structure and the shipped runs (eq and the per-ion runs),
with the SOC strength multiplied by each factor (``soc_eigenstates(scale=...)``; 0 = no SOC,
normal at L; 1 = physical, inverted).  The SCF of every run is read from the ``.gpw`` files of a
pipeline run (``--gpw-from``, written by its scf step), so only the SOC step and Wannier90 run.

Then wanphonon on the fresh files (outside the repository), on every mesh of ``--mesh``.  Only the
results go to ``sweep.json`` next to this script (merged with what is already there): gaps at L,
Born charges, every chi term and the moment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
import analysis as A  # noqa: E402
import pipeline as P  # noqa: E402


def analyse(ship: Path, name: str, mesh: int, tolerance: float | None = None) -> dict:
    """wanphonon on ``ship/name`` with a uniform ``mesh``^3, or adaptive to ``tolerance`` (relative,
    on chi total; ``mesh`` is then the survey grid of the gap)."""
    r, _ = A.run_toml(ship, name, mesh=mesh, tolerance=tolerance or None)
    per = r.born_charge_per_ion
    z = ({k: float(np.asarray(v["total"])[0, 0]) for k, v in per.items()} if per else None)
    m = r.moment
    conv = r.convergence
    adaptive = ({"tolerance": tolerance, "k_points": conv["k_points"], "converged": conv["converged"],
                 "relative_error_total": conv["relative_error_total"],
                 "chi_error": conv["chi_error"]} if conv else None)
    return {"mesh": mesh, "adaptive": adaptive, "Z_total_xx": z, "chi": dict(r.chi),
            "mode_born_charge_total_xx": float(np.asarray(r.born_charge_total)[0, 0]),
            "mode_born_charge_note": "dipole per unit u of the whole mode: Z_cat + c Z_Te "
                                     "(c = -m_cat/m_Te), valences 2 and 4 included",
            "moment_terms_ionic_magneton": {k: v["ionic_magneton"] for k, v in m["terms"].items()},
            "moment_ionic_magneton": m["ionic_magneton"], "moment_nuclear_magneton": m["nuclear_magneton"],
            "point_charge_ionic_magneton": (m.get("point_charge_estimate") or {}).get("ionic_magneton"),
            "ions_ionic_magneton": (m.get("ions") or {}).get("ionic_magneton"),
            "phonon_ionic_magneton": (m.get("phonon") or {}).get("ionic_magneton"),
            "min_direct_gap_eV": r.min_direct_gap}


def soc_scale_path(args, meshes: list[int]) -> int:
    """The SOC-strength path at the experimental structure (per-ion runs, see the docstring)."""
    out_path = HERE / "sweep.json"
    extra = [f"--soc-nbands={args.soc_nbands}"] if args.soc_nbands else []
    for lam in [float(x) for x in args.scale.split(",")]:
        work = args.workdir / f"s{lam:.3f}" / (f"nb{args.soc_nbands}" if args.soc_nbands else "nb0")
        ship = work / "ship"
        seeds = P.seeds_for(P.MATERIALS[args.material]["cation"])
        for s in seeds:                                   # the SCFs are shared by every factor
            gpw = work / s / f"{s}.gpw"
            if not gpw.exists():
                gpw.parent.mkdir(parents=True, exist_ok=True)
                gpw.symlink_to((args.gpw_from / s / f"{s}.gpw").resolve())
        t0 = time.perf_counter()
        if not args.analyse_only:
            P.main(["--material", args.material, "--workdir", str(work), "--steps", "scf,ship",
                    "--ship-dir", str(ship), "--reuse-gpw", "--clean", f"--soc-scale={lam}", *extra])
        summ = json.loads((ship / "summary.json").read_text())
        res = json.loads(out_path.read_text()) if out_path.exists() else {}
        key = f"{lam:.3f}" + (f"/nb{args.soc_nbands}" if args.soc_nbands else "")
        pt = res.setdefault("soc_scale_points", {}).get(key, {})
        pt.update({"soc_scale": lam, "soc_nbands": summ["dft_settings"].get("soc_nbands", 24),
                   "gaps_L_eq": summ["runs"]["eq"]["gaps_L"]})
        if not args.analyse_only:
            pt["dft_wall_s"] = time.perf_counter() - t0
        runs = [(m, None) for m in meshes] + ([(16, args.tolerance)] if args.tolerance else [])
        for mesh, tol in runs:
            try:
                r = analyse(ship, P.toml_name("soc"), mesh, tol)
            except Exception as exc:            # e.g. a gap closing on the grid
                r = {"mesh": mesh, "error": f"{type(exc).__name__}: {exc}"}
            pt.setdefault("by_mesh", {})[f"adaptive:{tol:g}" if tol else str(mesh)] = r
            res = json.loads(out_path.read_text()) if out_path.exists() else {}
            res.setdefault("soc_scale_points", {})[key] = pt
            out_path.write_text(json.dumps(res, indent=1) + "\n")
            g = pt["gaps_L_eq"]["soc"]["signed_gap_eV"]
            print(f"SOC x {lam:.3f}: gap at L {g:+.4f} eV; {mesh}^3: Z {r.get('Z_total_xx')} "
                  f"mu/mu_I {r.get('moment_ionic_magneton')}", flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--path", choices=("lattice", "soc-scale"), default="lattice")
    p.add_argument("--a", help="comma-separated lattice constants (A), --path lattice")
    p.add_argument("--scale", help="comma-separated SOC scale factors, --path soc-scale")
    p.add_argument("--gpw-from", type=Path,
                   help="--path soc-scale: pipeline workdir with <seed>/<seed>.gpw of every run")
    p.add_argument("--soc-nbands", type=int, default=None, help="pipeline.py --soc-nbands")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--mesh", default="32", help="comma-separated k-meshes of the analysis")
    p.add_argument("--tolerance", type=float, default=None,
                   help="also an adaptive analysis to this relative tolerance (--path lattice: "
                        "instead of the uniform --mesh, which is then the survey grid)")
    p.add_argument("--material", default="PbTe")
    p.add_argument("--reduced", action="store_true", help="pipeline --reduced (default: shipped settings)")
    p.add_argument("--analyse-only", action="store_true",
                   help="re-run wanphonon on an existing <workdir>/a<a>/ship at --mesh (adds to by_mesh)")
    p.add_argument("--tags", default="soc,nosoc")
    p.add_argument("--gaps-only", action="store_true",
                   help="only record the gaps at L of an existing <workdir>/a<a>/runs.json (eq run)")
    args = p.parse_args(argv)
    meshes = [int(m) for m in args.mesh.split(",") if m]
    if args.path == "soc-scale":
        if not (args.scale and args.gpw_from):
            p.error("--path soc-scale needs --scale and --gpw-from")
        return soc_scale_path(args, meshes)
    if not args.a:
        p.error("--path lattice needs --a")
    args.mesh = meshes[-1]
    out_path = HERE / "sweep.json"
    res = json.loads(out_path.read_text()) if out_path.exists() else {
        "description": "PbTe with SOC (and without) vs lattice constant, pipeline.py "
                       f"({P.REDUCED if args.reduced else P.FULL}), eq + whole-mode runs, wanphonon on "
                       "the fresh Wannier90 files", "points": {}}
    for a in [float(x) for x in args.a.split(",")]:
        work = args.workdir / f"a{a:.3f}"
        ship = work / "ship"
        if args.gaps_only:
            runs = json.loads((work / "runs.json").read_text())
            res["points"][f"{a:.3f}"] = {"lattice_constant_A": a, "gaps_L_eq": runs["eq"]["gaps_L"],
                                         "note": "eq run only (no displaced runs)"}
            out_path.write_text(json.dumps(res, indent=1) + "\n")
            continue
        t0 = time.perf_counter()
        if not args.analyse_only:
            P.main(["--material", args.material, "--a", str(a), *(["--reduced"] if args.reduced else []),
                    "--workdir", str(work),
                    "--steps", "scf,ship", "--ship-dir", str(ship), "--mode2",
                    "--seeds", "eq,mode_xp,mode_xm,mode_yp,mode_ym"])
        summ = json.loads((ship / "summary.json").read_text())
        pt = res["points"].get(f"{a:.3f}", {}) if args.analyse_only else {}
        pt.update({"lattice_constant_A": a, "gaps_L_eq": summ["runs"]["eq"]["gaps_L"]})
        if not args.analyse_only:
            pt["dft_wall_s"] = time.perf_counter() - t0
        for tag in ("soc", "nosoc"):
            if tag not in args.tags.split(","):
                continue
            name = P.toml_name(tag)
            try:
                pt[tag] = analyse(ship, name, args.mesh, args.tolerance)
            except Exception as exc:            # e.g. a gap closing on the grid
                pt[tag] = {"error": f"{type(exc).__name__}: {exc}"}
            key = f"adaptive:{args.tolerance:g}" if args.tolerance else str(args.mesh)
            pt.setdefault("by_mesh", {}).setdefault(tag, {})[key] = pt[tag]
        res = json.loads(out_path.read_text()) if out_path.exists() else res   # others may have written
        res["points"][f"{a:.3f}"] = pt
        out_path.write_text(json.dumps(res, indent=1) + "\n")
        g = pt["gaps_L_eq"]
        print(f"a = {a:.3f}: gap at L soc {g['soc']['signed_gap_eV']:+.4f} nosoc "
              f"{g['nosoc']['signed_gap_eV']:+.4f}; soc {pt['soc'].get('Z_total_xx')} "
              f"mu/mu_I {pt['soc'].get('moment_ionic_magneton')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
