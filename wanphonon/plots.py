"""Figures of the paper's kind, drawn from wanphonon's own numbers (matplotlib, PNG).

* graphene models: the terms of chi against the gap parameter Delta
  (paper Fig. 2(d)), with the paper's printed 1/(12 pi) line for comparison;
* kz-integrated Cd3As2: bands along Gamma-Z at k_par = 0 and the per-kz
  contributions chi_2D(kz) (paper Fig. 3(a)-(d)), with the Dirac points and
  the slices removed by the adiabatic cutoff marked.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .api import as_config, compute, prepare  # noqa: E402
from .results import Result, chi_terms  # noqa: E402

_TERMS = (("born", "Born (k-resolved charge)"), ("energy", "energy x Berry curvature"),
          ("nontopological", "nontopological"), ("total", "total"))


def plots_for(config, result: Result, out_dir: str) -> list[str]:
    """Draw the figures that fit the configured system; returns the written paths."""
    cfg = as_config(config)
    name = cfg.get("model", "name") if cfg.is_builtin_model else None
    paths = []
    if name in ("graphene_dirac", "graphene_dirac_lattice"):
        paths.append(graphene_delta_sweep(cfg, os.path.join(out_dir, "graphene_terms_vs_delta.png")))
    if "kz_resolved" in result.extra:
        paths.append(cd3as2_kz_contributions(cfg, result, os.path.join(out_dir, "kz_contributions.png")))
    return paths


def graphene_delta_sweep(cfg, path: str, n_points: int = 24) -> str:
    """chi terms of the continuum graphene model for |Delta| from 0.2 to 5 times the configured one."""
    base = dict(cfg.tables["model"])
    base["name"] = "graphene_dirac"
    base.pop("a", None)
    delta0 = abs(float(base.get("delta", 0.1)))
    deltas = delta0 * np.geomspace(0.2, 5.0, n_points)
    g = int(cfg.get("electrons", "spin_degeneracy", 2))
    rows = []
    for d in deltas:
        calc = prepare({"model": base | {"delta": float(d)}, "electrons": {"spin_degeneracy": g}})
        rows.append(chi_terms(compute(calc).values, g))
    zeta = float(base.get("zeta", 12.0))
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for key, label in _TERMS:
        vals = np.array([r[key] for r in rows])
        if np.all(np.abs(vals) < 1e-12 * np.abs([r["total"] for r in rows]).max()):
            continue
        ax.loglog(deltas, np.abs(vals), label=label, lw=1.6)
    ax.loglog(deltas, g * zeta ** 2 / (12 * np.pi * deltas ** 2), "k--", lw=1,
              label=r"paper as printed, $\zeta^2/12\pi\Delta^2$")
    ax.set_xlabel(r"$|\Delta|$ (eV)")
    ax.set_ylabel(r"$|\chi|$ (1/$\AA^2$)")
    ax.set_title(f"gapped graphene, K-point chiral phonon (g_s = {g})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def cd3as2_kz_contributions(cfg, result: Result, path: str) -> str:
    """Bands at k_par = 0 along kz and chi_2D(kz) per term (paper Fig. 3)."""
    calc = prepare(cfg)
    model = calc.system
    kz_res = result.extra["kz_resolved"]
    kz = np.array(kz_res["kz"])
    kmax = max(abs(kz).max(), 1e-3)
    k_line = np.linspace(-min(kmax, 4 * np.sqrt(abs(model.delta0 / model.delta1))),
                         min(kmax, 4 * np.sqrt(abs(model.delta0 / model.delta1))), 401)
    h = model.derivatives(np.stack([0 * k_line, 0 * k_line, k_line], -1)).H
    bands = np.linalg.eigvalsh(h)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    ax1.plot(k_line, 1e3 * bands, "k", lw=1.2)
    ax1.set_xlabel(r"$k_z$ (1/$\AA$)")
    ax1.set_ylabel("E (meV)")
    ax1.set_title(r"bands at $k_\parallel = 0$")
    roots = [] if model.delta0 / model.delta1 <= 0 else [np.sqrt(model.delta0 / model.delta1)]
    for r in roots:
        for ax in (ax1, ax2):
            ax.axvline(r, color="grey", ls="--", lw=0.8)
            ax.axvline(-r, color="grey", ls="--", lw=0.8)
    order = np.argsort(kz)
    for key, label in _TERMS:
        vals = np.array(kz_res["chi"][key])[order]
        ax2.plot(kz[order], vals, lw=1.3, label=label)
    e_p = result.adiabaticity.get("phonon_energy_meV")
    if e_p and result.adiabaticity.get("cutoff"):
        ax2.set_title(f"per-kz contribution (cutoff 2|D| > {e_p} meV)")
    else:
        ax2.set_title("per-kz contribution")
    ax2.set_xlim(k_line[0], k_line[-1])
    ax2.set_xlabel(r"$k_z$ (1/$\AA$)")
    ax2.set_ylabel(r"$\chi_{2D}(k_z)$ (1/$\AA^2$)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
