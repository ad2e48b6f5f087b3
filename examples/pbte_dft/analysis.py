#!/usr/bin/env python3
"""Born charges, chiral-TO-phonon moment, k-mesh convergence and the gap near L for the shipped
PbTe / SnTe Wannier90 runs (made by pipeline.py).  Every number of the READMEs comes from here.

    python examples/pbte_dft/analysis.py --material PbTe [--meshes 8,12,16,24] [--quick]

Writes ``<example>/analysis.json`` and prints the tables.  The ``[phonon] valence`` of the TOML
files is the model valence (cation 2, Te 4: the PAW valence minus the electrons of the bands
below the Wannier model, which move rigidly with their ion); the bare-ion row uses it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
import pipeline as P  # noqa: E402

FOLDERS = {"PbTe": HERE, "SnTe": HERE.parent / "snte_dft"}
CATION = {"PbTe": "Pb", "SnTe": "Sn"}
E_TO_MEV = 4.14          # ~1 THz: the Gamma TO phonon of PbTe (soft mode), for the adiabaticity check
ADAPTIVE_MAX_POINTS = 6_000_000   # k-point budget of an adaptive run (run_toml tolerance=...)


@contextlib.contextmanager
def cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_toml(folder: Path, name: str, mesh: int | None = None, phonon_meV: float | None = None,
             tolerance: float | None = None):
    import wanphonon
    cfg = tomllib.loads((folder / name).read_text())
    cfg = copy.deepcopy(cfg)
    if mesh is not None:
        cfg["kmesh"]["size"] = [mesh] * 3
    if tolerance is not None:
        cfg["kmesh"].update({"tolerance": tolerance, "max_points": ADAPTIVE_MAX_POINTS})
    if phonon_meV is not None:
        cfg["phonon"]["phonon_energy_meV"] = phonon_meV
    t0 = time.perf_counter()
    with cwd(folder):
        res = wanphonon.run(cfg)
    return res, time.perf_counter() - t0


def save(folder: Path, sfx: str, out: dict) -> None:
    """Write ``out`` to ``<folder>/analysis<sfx>.json``."""
    (folder / f"analysis{sfx}.json").write_text(json.dumps(out, indent=1, default=float) + "\n")


def summarise(res, cation: str, val=None) -> dict:
    per = res.born_charge_per_ion
    z = {ion: np.asarray(v["total"]) for ion, v in per.items()}
    ze = {ion: np.asarray(v["electronic"]) for ion, v in per.items()}
    m = res.moment
    w = m["mode_weight"]
    pat = res.phonon_pattern
    # bare ions (model valences on their orbits): w sum_kappa val_kappa c_kappa^2
    val = val or {cation: 2.0, "Te": 4.0}
    c2 = {k: float(np.asarray(v)[0][0]) ** 2 for k, v in pat.items()}
    bare = w * sum(val[k] * c2[k] for k in val)
    ratio_N = m["nuclear_magneton"] / m["ionic_magneton"]
    ratio_B = m["bohr_magneton"] / m["ionic_magneton"]
    return {
        "Z_total_xx_yy_zz_offdiag": {ion: [float(v[0, 0]), float(v[1, 1]), float(np.abs(v[2]).max()),
                                           float(max(abs(v[0, 1]), abs(v[1, 0])))] for ion, v in z.items()},
        "Z_total": {ion: float((v[0, 0] + v[1, 1]) / 2) for ion, v in z.items()},
        "Z_electronic": {ion: float((v[0, 0] + v[1, 1]) / 2) for ion, v in ze.items()},
        "sum_rule": float(sum((v[0, 0] + v[1, 1]) / 2 for v in z.values())),
        "chi": dict(res.chi), "chi_units": res.chi_units,
        "moment_terms_ionic_magneton": {k: v["ionic_magneton"] for k, v in m["terms"].items()},
        "moment_total": {"ionic_magneton": m["ionic_magneton"], "nuclear_magneton": m["nuclear_magneton"],
                         "bohr_magneton": m["bohr_magneton"]},
        "mode_weight": w,
        "point_charge_estimate_ionic_magneton": m["point_charge_estimate"]["ionic_magneton"],
        "bare_ions_ionic_magneton": bare,
        "ratios": {"mu_N_per_mu_I": ratio_N, "mu_B_per_mu_I": ratio_B},
        "min_direct_gap_eV": res.min_direct_gap,
        "adiabaticity": res.adiabaticity,
    }


def gap_map(folder: Path, sub: str, nocc: int) -> dict:
    """Direct gap of the eq model near L = (1/2,1/2,1/2) along Gamma-L (longitudinal) and along
    L-W (transverse), |k - L| in 1/A."""
    from wanphonon.io.seed import read_seed
    run = read_seed(str(folder / "wannier" / sub / "eq"))
    B = 2 * np.pi * np.linalg.inv(run.lattice).T          # rows b1..b3 (1/A)
    L = np.array([0.5, 0.5, 0.5])
    W = np.array([0.5, 0.25, 0.75])
    out = {}
    for name, d in (("L-Gamma", -L), ("L-W", W - L)):
        dc = d @ B
        unit = d / np.linalg.norm(dc)
        qs = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3])
        kred = L[None, :] + qs[:, None] * unit[None, :]
        R, H, _ = run.with_images()                          # Wannier90's minimal images applied
        Hk = np.einsum("kr,rmn->kmn", np.exp(2j * np.pi * kred @ R.T), H)
        e = np.linalg.eigvalsh(Hk)
        out[name] = {"q_per_A": qs.tolist(), "gap_eV": (e[:, nocc] - e[:, nocc - 1]).tolist()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--material", choices=list(FOLDERS), required=True)
    p.add_argument("--meshes", default="16,24,32,48,64")
    p.add_argument("--quick", action="store_true", help="only the TOML meshes, no convergence table")
    p.add_argument("--born-mesh", type=int, default=8,
                   help="k-mesh of the Born charges compared with GPAW in the tests")
    p.add_argument("--gpaw-kgrid", type=int, default=4, help="GPAW Berry-phase k-grid compared")
    p.add_argument("--suffix", default="", help="'_sp': the diagnostic s+p model (wanphonon_sp.toml ...)")
    p.add_argument("--append-meshes", default="",
                   help="only add these meshes to the convergence tables of an existing analysis.json")
    p.add_argument("--tags", default="soc,nosoc", help="with --append-meshes or --adaptive: which models")
    p.add_argument("--adaptive", type=float, default=None,
                   help="only add an adaptive integration to this relative tolerance (on chi total) "
                        "to an existing analysis.json")
    args = p.parse_args(argv)
    from wanphonon.errors import GapClosedError
    folder = FOLDERS[args.material]
    cat = CATION[args.material]
    sfx = args.suffix
    val = {cat: 4.0, "Te": 6.0} if sfx == "_sp" else None
    if args.adaptive:
        out = json.loads((folder / f"analysis{sfx}.json").read_text())
        for tag in args.tags.split(","):
            name = P.toml_name(tag, sfx)
            try:
                r, dt = run_toml(folder, name, mesh=16, tolerance=args.adaptive)
            except GapClosedError as exc:       # the refinement found a (near-)closed gap
                out[tag]["adaptive"] = {"tolerance": args.adaptive, "error": str(exc).splitlines()[0]}
                save(folder, sfx, out)
                print(f"  {tag} adaptive {args.adaptive:g}: {exc}", flush=True)
                continue
            ss = summarise(r, cat, val)
            c = r.convergence
            out[tag]["adaptive"] = {
                "tolerance": args.adaptive, "k_points": c["k_points"], "converged": c["converged"],
                "relative_error_total": c["relative_error_total"], "time_s": dt,
                "Z_total": ss["Z_total"], "chi": ss["chi"], "chi_error": c["chi_error"],
                "moment_terms_ionic_magneton": ss["moment_terms_ionic_magneton"],
                "moment_ionic_magneton": ss["moment_total"]["ionic_magneton"],
                "min_direct_gap_eV": ss["min_direct_gap_eV"]}
            save(folder, sfx, out)
            print(f"  {tag} adaptive {args.adaptive:g}: {c['k_points']} k-points, {dt:.0f} s, "
                  f"mu/mu_I {ss['moment_total']['ionic_magneton']:.6g}", flush=True)
        return 0
    if args.append_meshes:
        out = json.loads((folder / f"analysis{sfx}.json").read_text())
        for tag in args.tags.split(","):
            name = P.toml_name(tag, sfx)
            for mesh in [int(x) for x in args.append_meshes.split(",")]:
                r, dt = run_toml(folder, name, mesh=mesh)
                ss = summarise(r, cat, val)
                conv = [c for c in out[tag]["convergence"] if c["mesh"] != mesh]
                conv.append({"mesh": mesh, "time_s": dt, "Z_total": ss["Z_total"], "chi": ss["chi"],
                             "moment_ionic_magneton": ss["moment_total"]["ionic_magneton"],
                             "min_direct_gap_eV": ss["min_direct_gap_eV"]})
                out[tag]["convergence"] = sorted(conv, key=lambda c: c["mesh"])
                save(folder, sfx, out)
                print(f"  {tag} mesh {mesh}: {dt:.0f} s, total chi {ss['chi']['total']:.6g}", flush=True)
        print_tables(out, folder)
        return 0
    out = {"material": args.material, "E_TO_meV_assumed": E_TO_MEV}
    t_all = time.perf_counter()
    nv = 5 if sfx == "_sp" else 3
    for tag, nocc in (("soc", 2 * nv), ("nosoc", nv)):
        name = P.toml_name(tag, sfx)
        if not (folder / name).exists():
            continue
        res, dt = run_toml(folder, name, phonon_meV=E_TO_MEV)
        s = summarise(res, cat, val)
        s["time_s"] = dt
        s["kmesh_label"] = "x".join(str(x) for x in tomllib.loads((folder / name).read_text())["kmesh"]["size"])
        s["gap_map"] = gap_map(folder, tag + sfx, nocc)
        out[tag] = s
        conv = []
        if not args.quick:
            for mesh in [int(x) for x in args.meshes.split(",")]:
                r, dt = run_toml(folder, name, mesh=mesh)
                ss = summarise(r, cat, val)
                conv.append({"mesh": mesh, "time_s": dt, "Z_total": ss["Z_total"], "chi": ss["chi"],
                             "moment_ionic_magneton": ss["moment_total"]["ionic_magneton"],
                             "min_direct_gap_eV": ss["min_direct_gap_eV"]})
                print(f"  {tag} mesh {mesh}: {dt:.0f} s, Z {ss['Z_total']}, total chi {ss['chi']['total']:.6g}",
                      flush=True)
        out[tag]["convergence"] = conv
    # regression anchor for tests/test_pbte_dft.py (mesh 8), with its provenance
    import subprocess
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    ref = {"mesh": 8, "born_mesh": args.born_mesh, "gpaw_kgrid_compared": args.gpaw_kgrid,
           "provenance": {"made_by": "examples/pbte_dft/analysis.py", "git_commit": commit,
                          "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}}
    for tag in ("soc", "nosoc"):
        name = P.toml_name(tag, sfx)
        if not (folder / name).exists():
            continue
        r, _ = run_toml(folder, name, mesh=8)
        ref[tag] = {"chi": dict(r.chi), "moment_ionic_magneton": r.moment["ionic_magneton"],
                    "inputs_sha256": r.provenance["inputs_sha256"]}
        rb, _ = run_toml(folder, name, mesh=args.born_mesh)
        ref[tag]["Z_total_born_mesh"] = summarise(rb, cat, val)["Z_total"]
    out["test_reference"] = ref
    out["time_s"] = time.perf_counter() - t_all
    save(folder, sfx, out)
    print_tables(out, folder)
    return 0


def print_tables(out: dict, folder: Path) -> None:
    dft = json.loads((folder / "dft_born_charges.json").read_text()) if (folder / "dft_born_charges.json").exists() else None
    print(f"\n{out['material']}: Born charges (e; total = model valence + electronic, (xx+yy)/2)")
    for tag in [t for t in ("soc", "nosoc") if t in out]:
        s = out[tag]
        print(f"  {tag:6s} " + "  ".join(f"Z*_{k} = {v:+.4f}" for k, v in s["Z_total"].items())
              + f"  sum {s['sum_rule']:+.4f}")
    if dft:
        for nk, r in dft["by_kgrid"].items():
            print(f"  GPAW Berry phase (no SOC) {nk}x{nk}x{nk}: "
                  + "  ".join(f"Z*_{k} = {v:+.4f}" for k, v in r["Z_xx"].items())
                  + f"  sum {r['sum_rule_xx']:+.4f}")
    print("\nmoment of the circularly polarised TO phonon (per phonon quantum)")
    print(f"  {'term':16s} " + " ".join(f"{t + ' ' + u:>14s}" for t in ("soc", "nosoc") for u in ("mu_I", "mu_N")))
    keys = ["born", "energy", "topological", "nontopological", "total"]
    for k in keys:
        row = []
        for tag in ("soc", "nosoc"):
            s = out[tag]
            v = s["moment_terms_ionic_magneton"][k]
            row += [v, v * s["ratios"]["mu_N_per_mu_I"]]
        print(f"  {k:16s} " + " ".join(f"{x:14.6g}" for x in row))
    for lab, key in (("bare ions", "bare_ions_ionic_magneton"), ("point charge", "point_charge_estimate_ionic_magneton")):
        row = []
        for tag in ("soc", "nosoc"):
            s = out[tag]
            row += [s[key], s[key] * s["ratios"]["mu_N_per_mu_I"]]
        print(f"  {lab:16s} " + " ".join(f"{x:14.6g}" for x in row))
    for tag in ("soc", "nosoc"):
        s = out[tag]
        print(f"  {tag}: total in mu_B {s['moment_total']['bohr_magneton']:.6g}; mode weight {s['mode_weight']:.5f};"
              f" min direct gap {s['min_direct_gap_eV']:.4f} eV; adiabaticity {s['adiabaticity']}")
        if s["convergence"]:
            print(f"  k-mesh convergence ({tag}):  mesh  Z*_cat  Z*_Te  chi_total  mu/mu_I  min gap  time")
            for c in s["convergence"]:
                z = list(c["Z_total"].values())
                print(f"     {c['mesh']:4d} {z[0]:+.4f} {z[1]:+.4f} {c['chi']['total']:+.6e} "
                      f"{c['moment_ionic_magneton']:+.6g} {c['min_direct_gap_eV']:.4f} {c['time_s']:.0f}s")
        for name, g in s["gap_map"].items():
            print(f"  gap map {tag} {name}: " + ", ".join(f"{q:.2f}:{e:.3f}" for q, e in zip(g['q_per_A'], g['gap_eV'])))


if __name__ == "__main__":
    sys.exit(main())
