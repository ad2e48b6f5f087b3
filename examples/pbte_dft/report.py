#!/usr/bin/env python3
"""Print the README tables (markdown) from the shipped JSON files; no computation.

    python examples/pbte_dft/report.py --material PbTe
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDERS = {"PbTe": HERE, "SnTe": HERE.parent / "snte_dft"}
CATION = {"PbTe": "Pb", "SnTe": "Sn"}


def load(folder: Path, name: str):
    f = folder / name
    return json.loads(f.read_text()) if f.exists() else None


def _uniform(pt: dict) -> list[tuple[int, dict]]:
    """The uniform-mesh analyses of a sweep point, coarse to dense."""
    return sorted((int(m), r) for m, r in pt["by_mesh"].items() if m.isdigit() and "error" not in r)


def _best(pt: dict) -> tuple[str, dict] | None:
    """The analysis quoted for a sweep point: the adaptive one where it converged (tightest
    tolerance), else the densest uniform mesh.  Returns (label, result)."""
    ad = sorted(((r["adaptive"]["tolerance"], r) for m, r in pt["by_mesh"].items()
                 if m.startswith("adaptive") and "error" not in r and r["adaptive"]["converged"]),
                key=lambda x: x[0])
    if ad:
        tol, r = ad[0]
        return f"adaptive {tol:g} ({r['adaptive']['k_points'] / 1e6:.2f}M k)", r
    uni = _uniform(pt)
    return (f"{uni[-1][0]}^3", uni[-1][1]) if uni else None


def _shipped_soc_point() -> dict:
    """The shipped SOC model (SOC x 1, the SCF's 24 bands) as a point of the SOC-strength path,
    from analysis.json (its densest uniform mesh)."""
    ana, summ = load(HERE, "analysis.json"), load(HERE, "summary.json")
    a = ana["soc"]
    c = a["convergence"][-1]
    f = c["moment_ionic_magneton"] / c["chi"]["total"]
    total = c["moment_ionic_magneton"]
    r = {"mesh": c["mesh"], "Z_total_xx": c["Z_total"], "min_direct_gap_eV": c["min_direct_gap_eV"],
         "moment_terms_ionic_magneton": {k: v * f for k, v in c["chi"].items()},
         "moment_ionic_magneton": total, "ions_ionic_magneton": a["bare_ions_ionic_magneton"],
         "phonon_ionic_magneton": total + a["bare_ions_ionic_magneton"],
         "point_charge_ionic_magneton": a["point_charge_estimate_ionic_magneton"]}
    return {"soc_scale": 1.0, "soc_nbands": 24, "gaps_L_eq": summ["runs"]["eq"]["gaps_L"],
            "by_mesh": {str(m["mesh"]): {"moment_ionic_magneton": m["moment_ionic_magneton"]}
                        for m in a["convergence"][:-1]} | {str(c["mesh"]): r}}


def soc_scale_points() -> dict:
    """The points of the SOC-strength path: sweep.json's, and the shipped SOC model at SOC x 1."""
    sw = load(HERE, "sweep.json") or {}
    pts = dict(sw.get("soc_scale_points", {}))
    if load(HERE, "analysis.json"):
        pts.setdefault("1.000", _shipped_soc_point())
    return pts


def numbers() -> dict:
    """Flat ``{name: number}`` of the values the READMEs and docs/tutorial_3d.md quote in prose
    (read by docs/generate_numbers.py, source ``rocksalt``)."""
    out = {}
    for mat, folder in FOLDERS.items():
        ana, summ = load(folder, "analysis.json"), load(folder, "summary.json")
        m = mat.lower()
        for t in ("soc", "nosoc"):
            if not ana or t not in ana:
                continue
            c = ana[t]["convergence"][-1]
            out[f"{m}.{t}.mesh"] = c["mesh"]
            if "error" not in (ana[t].get("adaptive") or {}):     # no moment where the gap closes
                out[f"{m}.{t}.total"] = c["moment_ionic_magneton"]
            out[f"{m}.{t}.Z"] = c["Z_total"][CATION[mat]]
            out[f"{m}.{t}.gap_L"] = summ["runs"]["eq"]["gaps_L"][t]["signed_gap_eV"]
            out[f"{m}.{t}.bare_ions"] = ana[t]["bare_ions_ionic_magneton"]
            out[f"{m}.{t}.point_charges"] = ana[t]["point_charge_estimate_ionic_magneton"]
    for a, pt in (load(HERE, "sweep.json") or {}).get("points", {}).items():
        r = pt.get("soc") or {}
        if "moment_ionic_magneton" in r:
            out[f"pbte.lattice.{a}.total"] = r["moment_ionic_magneton"]
            out[f"pbte.lattice.{a}.min_gap"] = r["min_direct_gap_eV"]
    for key, pt in soc_scale_points().items():
        d = _best(pt)
        if d is None:
            continue
        name = f"pbte.scale.{pt['soc_scale']:.2f}.nb{pt['soc_nbands']}"
        out[f"{name}.gap_L"] = pt["gaps_L_eq"]["soc"]["signed_gap_eV"]
        out[f"{name}.total"] = d[1]["moment_ionic_magneton"]
        out[f"{name}.phonon"] = d[1]["phonon_ionic_magneton"]
        out[f"{name}.Z"] = d[1]["Z_total_xx"][CATION["PbTe"]]
        out[f"{name}.min_gap"] = d[1]["min_direct_gap_eV"]
        for k in ("born_a", "born_b", "born", "energy", "topological", "nontopological"):
            out[f"{name}.{k}"] = d[1]["moment_terms_ionic_magneton"][k]
    return out


def soc_scale_table(points: dict, cat: str) -> None:
    """The SOC-strength path through the inversion (sweep.py --path soc-scale): every term from
    the quoted analysis (``_best``), and the electronic total on the densest uniform meshes."""
    print("\n### Through the inversion: SOC strength x lambda (experimental structure, p model)\n")
    print(f"mu/mu_I of {cat} per TO phonon quantum; electrons: born ... total; then the bare ions, "
          "the phonon (ions + electrons) and the point-charge estimate from Z*.\n")
    cols = ("born", "energy", "topological", "nontopological", "total")
    print(f"| SOC x | SOC basis (bands) | gap at L (eV) | min gap on grid (eV) | Z*_{cat} | Z*_Te | "
          + " | ".join(cols) + " | bare ions | phonon | point charges | k-points | total on uniform meshes |")
    print("|" + "---|" * (11 + len(cols)))
    for key, pt in sorted(points.items(), key=lambda x: (x[1]["soc_scale"], x[1]["soc_nbands"])):
        best = _best(pt)
        if best is None:
            continue
        label, r = best
        uni = _uniform(pt)
        ch = ", ".join(f"{m}^3: {u['moment_ionic_magneton']:+.3g}" for m, u in uni[-3:])
        t = r["moment_terms_ionic_magneton"]
        z = r["Z_total_xx"]
        print(f"| {pt['soc_scale']:.2f} | {pt['soc_nbands']} | {pt['gaps_L_eq']['soc']['signed_gap_eV']:+.3f} | "
              f"{r['min_direct_gap_eV']:.3f} | {z[cat]:+.3f} | {z['Te']:+.3f} | "
              + " | ".join(f"{t[k]:+.3g}" for k in cols)
              + f" | {r['ions_ionic_magneton']:+.3g} | {r['phonon_ionic_magneton']:+.3g} | "
              f"{r['point_charge_ionic_magneton']:+.3g} | {label} | {ch} |")


def soc_scale_plot(points: dict, cat: str, path: Path) -> None:
    """Every term (densest mesh, 24-band SOC basis) against the SOC factor, and the gap at L."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = sorted((pt for pt in points.values() if pt["soc_nbands"] == 24),
                 key=lambda pt: pt["soc_scale"])
    lam, rows = [], []
    for pt in pts:
        best = _best(pt)
        if best:
            lam.append(pt["soc_scale"])
            rows.append((pt["gaps_L_eq"]["soc"]["signed_gap_eV"], best[1]))
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True, height_ratios=(3, 1.2))
    for key, style in (("born", "o-"), ("energy", "s-"), ("nontopological", "^-"), ("total", "k*-")):
        ax.plot(lam, [r["moment_terms_ionic_magneton"][key] for _, r in rows], style, label=key)
    ax.plot(lam, [r["phonon_ionic_magneton"] for _, r in rows], "D--", label="phonon (ions + electrons)")
    ax.plot(lam, [r["point_charge_ionic_magneton"] for _, r in rows], "x:", label="point charges Z*")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylabel(f"moment per TO phonon ($\\mu_I$ of {cat})")
    ax.legend(fontsize=8)
    bx.plot(lam, [g for g, _ in rows], "o-", label="signed gap at L")
    bx.plot(lam, [r["min_direct_gap_eV"] for _, r in rows], "v:", label="min direct gap on the mesh")
    bx.axhline(0, color="0.6", lw=0.8)
    bx.set_xlabel("SOC strength factor $\\lambda$ (1 = physical)")
    bx.set_ylabel("eV")
    bx.legend(fontsize=8)
    fig.suptitle("PbTe, p model: through the band inversion at L (negative gap = inverted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--material", choices=list(FOLDERS), help="the tables of one material")
    p.add_argument("--inversion", action="store_true",
                   help="only the across-the-inversion rows (densest mesh of analysis.json, both materials)")
    p.add_argument("--plot", type=Path, default=None,
                   help="write the figure of the SOC-strength path (sweep.json) to this file and stop")
    args = p.parse_args(argv)
    if args.plot:
        soc_scale_plot(soc_scale_points(), CATION["PbTe"], args.plot)
        return 0
    if args.inversion:
        print("| model | gap at L (eV) | Z*_cation | born | energy | topological | nontopological "
              "| total (mu_I) | k-points |\n|---|---|---|---|---|---|---|---|---|")
        for mat in ("PbTe", "SnTe"):
            a = load(FOLDERS[mat], "analysis.json")
            summ = load(FOLDERS[mat], "summary.json")
            for t in ("nosoc", "soc"):
                ad = a[t].get("adaptive")
                g = summ["runs"]["eq"]["gaps_L"][t]["signed_gap_eV"]
                if ad and "error" in ad:      # the adaptive refinement met a closed gap
                    e = ad["error"]
                    print(f"| {mat} {'SOC' if t == 'soc' else 'no SOC'} | {g:+.3f} | "
                          f"{a[t]['convergence'][-1]['Z_total'][CATION[mat]]:+.3f} | undefined: the gap "
                          f"closes ({e[e.index(' is ') + 4:e.index(' eV, below')]} eV near L) | | | | | "
                          f"adaptive {ad['tolerance']:g} |")
                    continue
                c = ad if ad else a[t]["convergence"][-1]
                label = (f"adaptive {c['tolerance']:g} ({c['k_points'] / 1e6:.2f}M)" if "tolerance" in c
                         else f"{c['mesh']}^3")
                f = c["moment_ionic_magneton"] / c["chi"]["total"]
                print(f"| {mat} {'SOC' if t == 'soc' else 'no SOC'} | {g:+.3f} | "
                      f"{c['Z_total'][CATION[mat]]:+.3f} | "
                      + " | ".join(f"{c['chi'][k] * f:+.3g}" for k in
                                   ("born", "energy", "topological", "nontopological", "total"))
                      + f" | {label} |")
        return 0
    if args.material is None:
        p.error("give --material, --inversion or --plot")
    folder, cat = FOLDERS[args.material], CATION[args.material]
    summ = load(folder, "summary.json")
    ana = load(folder, "analysis.json")
    ana_sp = load(folder, "analysis_sp.json")
    dft = load(folder, "dft_born_charges.json")

    print("### Gaps at L (DFT, eV; negative = inverted: cation p on top of the valence band)\n")
    print("| run | no SOC | SOC |\n|---|---|---|")
    for s, r in summ["runs"].items():
        g = r["gaps_L"]
        print(f"| {s} | {g['nosoc']['signed_gap_eV']:+.4f} | {g['soc']['signed_gap_eV']:+.4f} |")
    b = summ.get("bands_check_eq")
    if b:
        print("\nBand check of `eq` along L-Gamma-X-W-L (fixed-density DFT vs Wannier interpolation):\n")
        print("| model | max error, occupied (meV) | max error, frozen window (meV) | gap at L DFT | gap at L Wannier |")
        print("|---|---|---|---|---|")
        for t in ("nosoc", "soc"):
            x = b[t]
            print(f"| {t} | {x['max_abs_error_occupied_eV'] * 1e3:.1f} | {x['max_abs_error_frozen_eV'] * 1e3:.1f} "
                  f"| {x['gap_L_dft_eV']:.4f} | {x['gap_L_wannier_eV']:.4f} |")

    print("\n### Born charges (e, (xx+yy)/2; GPAW: xx)\n")
    print(f"| source | Z*_{cat} | Z*_Te | sum |\n|---|---|---|---|")
    for label, a in (("wanphonon, p model", ana), ("wanphonon, sp model", ana_sp)):
        if not a:
            continue
        for t in ("nosoc", "soc"):
            if t in a:
                z = a[t]["Z_total"]
                print(f"| {label}, {t}, {a[t].get('kmesh_label', '48^3')} | {z[cat]:+.4f} | {z['Te']:+.4f} | {a[t]['sum_rule']:+.4f} |")
    if dft:
        for nk, r in sorted(dft["by_kgrid"].items(), key=lambda x: int(x[0])):
            z = r["Z_xx"]
            print(f"| GPAW Berry phase, no SOC, {nk}x{nk}x{nk} | {z[cat]:+.4f} | {z['Te']:+.4f} | {r['sum_rule_xx']:+.4f} |")

    for label, a in (("p model", ana), ("sp model", ana_sp)):
        if not a:
            continue
        print(f"\n### Moment of the circularly polarised TO phonon, {label} (per phonon quantum, "
              f"counterclockwise {cat})\n")
        print("| term | SOC mu/mu_I | SOC mu/mu_N | SOC mu/mu_B | no SOC mu/mu_I | no SOC mu/mu_N | no SOC mu/mu_B |")
        print("|---|---|---|---|---|---|---|")
        tags = [t for t in ("soc", "nosoc") if t in a]
        for k in ("born", "energy", "topological", "nontopological", "total"):
            row = []
            for t in ("soc", "nosoc"):
                if t not in a:
                    row += ["", "", ""]
                    continue
                v = a[t]["moment_terms_ionic_magneton"][k]
                r = a[t]["ratios"]
                row += [f"{v:+.4g}", f"{v * r['mu_N_per_mu_I']:+.4g}", f"{v * r['mu_B_per_mu_I']:+.3e}"]
            print(f"| {k} | " + " | ".join(row) + " |")
        for lab, key in (("bare ions (model valences)", "bare_ions_ionic_magneton"),
                         ("point charges Z*", "point_charge_estimate_ionic_magneton")):
            row = []
            for t in ("soc", "nosoc"):
                if t not in a:
                    row += ["", "", ""]
                    continue
                v = a[t][key]
                r = a[t]["ratios"]
                row += [f"{v:+.4g}", f"{v * r['mu_N_per_mu_I']:+.4g}", f"{v * r['mu_B_per_mu_I']:+.3e}"]
            print(f"| {lab} | " + " | ".join(row) + " |")
        t0 = tags[0]
        print(f"\nmode weight w = {a[t0]['mode_weight']:.5f}; mu_I/mu_N = {a[t0]['ratios']['mu_N_per_mu_I']:.5f}; "
              f"k-mesh {a[t0].get('kmesh_label', '48^3')}")
        for t in tags:
            c = a[t]["convergence"]
            if not c:
                continue
            print(f"\nk-mesh convergence, {label}, {t}:\n")
            print(f"| mesh | Z*_{cat} | chi_total (1/A^3) | mu/mu_I | change vs previous | min direct gap on grid (eV) | time (s) |")
            print("|---|---|---|---|---|---|---|")
            prev = None
            for x in c:
                ch = "" if prev is None else f"{(x['moment_ionic_magneton'] - prev) / abs(x['moment_ionic_magneton']):+.1%}"
                print(f"| {x['mesh']}^3 | {x['Z_total'][cat]:+.4f} | {x['chi']['total']:+.5e} | "
                      f"{x['moment_ionic_magneton']:+.4f} | {ch} | {x['min_direct_gap_eV']:.4f} | {x['time_s']:.0f} |")
                prev = x["moment_ionic_magneton"]
            x = a[t].get("adaptive")
            if x and "error" in x:
                print(f"| adaptive, tolerance {x['tolerance']:g} | | | undefined | {x['error']} | | |")
            elif x:
                print(f"| adaptive, tolerance {x['tolerance']:g}: {x['k_points']} k-points"
                      f"{'' if x['converged'] else ' (NOT converged)'} | {x['Z_total'][cat]:+.4f} | "
                      f"{x['chi']['total']:+.5e} | {x['moment_ionic_magneton']:+.4f} | estimated error "
                      f"{x['relative_error_total']:.1%} | {x['min_direct_gap_eV']:.4f} | {x['time_s']:.0f} |")
        for t in tags:
            for name, g in a[t]["gap_map"].items():
                print(f"\ndirect gap of the {t} model along {name} (|k - L| in 1/A: gap in eV): "
                      + ", ".join(f"{q:.2f}: {e:.3f}" for q, e in zip(g["q_per_A"], g["gap_eV"])))
    sb = load(folder, f"soc_bands_{args.material}.json") or load(HERE, f"soc_bands_{args.material}.json")
    if sb:
        print("\n### SOC basis: gap at L (eq, |E_c - E_v|, eV) against the scalar-relativistic bands in the SOC step\n")
        print("| bands | spinors | gap at L with SOC | without SOC |\n|---|---|---|---|")
        for nb, r in sorted(sb["by_nbands"].items(), key=lambda x: int(x[0])):
            print(f"| {nb} | {2 * int(nb)} | {r['gap_L_soc_eV']:.4f} | {r['gap_L_nosoc_eV']:.4f} |")
    sw = load(folder, "sweep.json")
    if sw and sw.get("soc_scale_points") and args.material == "PbTe":
        soc_scale_table(soc_scale_points(), cat)
    if sw:
        print("\n### Lattice-constant path with SOC (whole-mode runs, 24-band SOC basis)\n")
        print("| a (A) | gap at L, SOC | gap at L, no SOC | electrons, SOC (mu_I of Pb) | min direct gap (eV) "
              "| k-points |\n|---|---|---|---|---|---|")
        for a, pt in sorted(sw["points"].items(), key=lambda x: float(x[0])):
            g = pt["gaps_L_eq"]
            r = pt.get("soc") or {}
            if "error" in r:
                e = r["error"]
                mu = "undefined (the refinement met a closed gap)"
                gap = e[e.index(" is ") + 4:e.index(" eV, below")] + " at k = " + e[e.index("at k = ") + 7:].splitlines()[0]
                k = "adaptive"
            elif r:
                ad = r.get("adaptive")
                mu, gap = f"{r['moment_ionic_magneton']:+.3g}", f"{r['min_direct_gap_eV']:.3f}"
                k = (f"adaptive {ad['tolerance']:g} ({ad['k_points'] / 1e6:.2f}M)" if ad else f"{r['mesh']}^3")
            else:
                mu, gap, k = "(eq run only)", "", ""
            print(f"| {a} | {g['soc']['signed_gap_eV']:+.4f} | {g['nosoc']['signed_gap_eV']:+.4f} | {mu} | {gap} | {k} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
