"""Figures of the paper's kind, drawn from wanphonon's own numbers (matplotlib, PNG).

* graphene models: the terms of chi against the gap parameter Delta
  (paper Fig. 2(d)), with the paper's printed 1/(12 pi) line for comparison;
* kz-integrated Cd3As2: bands along Gamma-Z at k_par = 0 and the per-kz
  contributions chi_2D(kz) (paper Fig. 3(a)-(d)), with the Dirac points and
  the slices removed by the adiabatic cutoff marked;
* lattice systems (Wannier90 input, ``*_lattice`` models): bands and every
  integrand along a k-path, and the direct gap over the zone.

Units.  ``chi`` terms are ``int d^dk/(2 pi)^d`` of the integrands: 1/A^2 per area
(2D, or per kz slice) and 1/A^3 per volume (3D).  The per-k integrands
themselves are dimensionless (``Omega_kk`` in A^2 times ``Omega_uu`` in 1/A^2,
or two dimensionless ``Omega_ku``; docs/theory.md sec. 2-3) and per spin.
Band energies are drawn relative to a reference ``E_ref``: the Fermi energy
when one is configured, else the middle of the gap between the highest occupied
and the lowest empty level on the drawn line.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..api import as_config, compute, setup  # noqa: E402
from ..results import Result, chi_terms  # noqa: E402

_TERMS = (("born", "Born (k-resolved charge)"), ("energy", "energy x Berry curvature"),
          ("nontopological", "nontopological"), ("total", "total"))


def _save(fig, path: str) -> str:
    """Write ``fig`` (laid out by its constrained layout) to ``path``."""
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _figure(*args, **kwargs):
    """``plt.subplots`` with constrained layout: panels keep their widths next to colour bars."""
    return plt.subplots(*args, layout="constrained", **kwargs)


def spiky(x, curves, narrow: float = 0.1, ratio: float = 100.0) -> float | None:
    """The linear threshold for a symlog axis when narrow spikes dominate ``curves``, else None.

    ``x``: ``(n,)`` abscissae (any spacing); ``curves``: arrays of shape ``(n,)``.  The
    envelope ``max |curve|`` is resampled uniformly in x (nodes crowd where the curves are
    steep); spikes dominate when the envelope exceeds a tenth of its peak on less than
    ``narrow`` of the x-range and its peak is above ``ratio`` times its median.  The
    threshold is that median rounded down to a power of ten, so the bulk stays readable.
    """
    x = np.asarray(x, dtype=float)
    order = np.argsort(x)
    env = np.max(np.abs(np.stack(curves)), axis=0)[order]
    x = x[order]
    if x.size < 2 or x[-1] <= x[0] or not np.all(np.isfinite(env)):
        return None
    env = np.interp(np.linspace(x[0], x[-1], 2001), x, env)
    peak, median = env.max(), np.median(env)
    if median <= 0 or peak < ratio * median or np.mean(env > 0.1 * peak) >= narrow:
        return None
    return 10.0 ** np.floor(np.log10(median))


def _scale_for_spikes(ax, x, curves) -> bool:
    """Switch ``ax`` to a symlog y-axis when spikes dominate ``curves`` (said in the label)."""
    linthresh = spiky(x, curves)
    if linthresh is None:
        return False
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.set_ylabel(ax.get_ylabel() + f"\n(symlog, linear within $\\pm${linthresh:g})")
    return True


def band_reference(energies: np.ndarray, n_occ: int, fermi_energy: float | None = None):
    """``(E_ref, vbm, cbm)`` of bands ``energies`` (nk, N) in eV with ``n_occ`` occupied.

    ``vbm``/``cbm``: the highest occupied / lowest empty level on these k-points;
    ``E_ref`` is ``fermi_energy`` if given, else ``(vbm + cbm)/2`` (the middle of the gap,
    or the touching point of a semimetal).
    """
    vbm = float(energies[:, n_occ - 1].max())
    cbm = float(energies[:, n_occ].min())
    ref = 0.5 * (vbm + cbm) if fermi_energy is None else float(fermi_energy)
    return ref, vbm, cbm


def _mark_gap(ax, ref: float, vbm: float, cbm: float, scale: float = 1.0, unit: str = "eV",
              reference: str = "mid-gap") -> None:
    """Shade the gap between ``vbm`` and ``cbm`` and mark ``E_ref`` (energies relative to it)."""
    if cbm - vbm > 1e-9:
        ax.axhspan(scale * (vbm - ref), scale * (cbm - ref), color="gold", alpha=0.25, lw=0,
                   label=f"gap {scale * (cbm - vbm):.3g} {unit}")
    ax.axhline(0.0, color="k", ls=":", lw=0.9, label=f"$E_F$ ({reference})")
    ax.legend(fontsize=7, loc="upper right")


def plots_for(config, result: Result, out_dir: str) -> list[str]:
    """Draw the figures that fit the configured system; returns the written paths.

    Graphene models: the Delta sweep; kz-integrated Cd3As2: the per-kz figure;
    lattice systems (Wannier90 input and ``*_lattice`` models): the k-path figure on the
    lattice's default path and the gap map.
    """
    cfg = as_config(config)
    name = cfg.model.name if cfg.is_builtin_model else None
    paths = []
    if name in ("graphene_dirac", "graphene_dirac_lattice"):
        paths.append(graphene_delta_sweep(cfg, os.path.join(out_dir, "graphene_terms_vs_delta.png")))
    if result.kz_resolved is not None:
        paths.append(cd3as2_kz_contributions(cfg, result, os.path.join(out_dir, "kz_contributions.png")))
    if result.grid.get("kind") in ("uniform", "adaptive"):     # lattice systems (Wannier90 input too)
        calc = setup(cfg)
        paths.append(path_contributions(calc, None, os.path.join(out_dir, "path_contributions.png")))
        paths.append(gap_map(calc, os.path.join(out_dir, "gap_map.png"), calc.setting.phonon_energy_meV))
        cells = os.path.join(out_dir, "adaptive_cells.npz")
        if result.convergence is not None and os.path.exists(cells):
            paths.append(adaptive_refinement(calc, cells, result.convergence,
                                             os.path.join(out_dir, "adaptive_refinement.png")))
    return paths


def graphene_delta_sweep(cfg, path: str, n_points: int = 24) -> str:
    """chi terms of the continuum graphene model (1/A^2, spin degeneracy g_s included) for
    |Delta| from 0.2 to 5 times the configured one, with the paper's printed line."""
    base = dict(cfg.model.params)
    base["name"] = "graphene_dirac"
    base.pop("a", None)
    delta0 = abs(float(base.get("delta", 0.1)))
    deltas = delta0 * np.geomspace(0.2, 5.0, n_points)
    g = cfg.electrons.spin_degeneracy or 2
    rows = []
    for d in deltas:
        calc = setup({"model": base | {"delta": float(d)}, "electrons": {"spin_degeneracy": g}})
        rows.append(chi_terms(compute(calc).values, g))
    zeta = float(base.get("zeta", 12.0))
    fig, ax = _figure(figsize=(5.2, 3.8))
    for key, label in _TERMS:
        vals = np.array([r[key] for r in rows])
        if np.all(np.abs(vals) < 1e-12 * np.abs([r["total"] for r in rows]).max()):
            continue
        ax.loglog(deltas, np.abs(vals), label=label, lw=1.6)
    ax.loglog(deltas, g * zeta ** 2 / (12 * np.pi * deltas ** 2), "k--", lw=1,
              label=r"paper as printed, $g_s\zeta^2/12\pi\Delta^2$")
    ax.axvline(delta0, color="grey", lw=0.8, ls=":", label=rf"configured $|\Delta|$ = {delta0:g} eV")
    ax.set_xlabel(r"$|\Delta|$ (eV)")
    ax.set_ylabel(rf"$|\chi|$ (1/$\AA^2$, $g_s$ = {g} included)")
    ax.set_title("gapped graphene, K-point chiral phonon")
    ax.legend(fontsize=8)
    return _save(fig, path)


def cd3as2_kz_contributions(cfg, result: Result, path: str) -> str:
    """Bands at k_par = 0 along kz (relative to E_F) and chi_2D(kz) per term (paper Fig. 3).

    chi_2D(kz) in 1/A^2 per slice with the configured spin degeneracy included; slices
    removed by the adiabatic cutoff (2|D(kz)| <= E_p) are shaded, the Dirac points dashed.
    A symlog axis is used when the spikes next to the cutoff dominate.
    """
    calc = setup(cfg)
    model = calc.system
    kz_res = result.kz_resolved
    kz = np.array(kz_res["kz"])
    kmax = max(abs(kz).max(), 1e-3)
    k_end = min(kmax, 4 * np.sqrt(abs(model.delta0 / model.delta1)))
    k_line = np.linspace(-k_end, k_end, 801)
    h = model.derivatives(np.stack([0 * k_line, 0 * k_line, k_line], -1)).H
    bands = np.linalg.eigvalsh(h)
    n_occ = bands.shape[1] // 2
    ref, vbm, cbm = band_reference(bands, n_occ)
    semimetal = model.delta0 / model.delta1 > 0
    fig, (ax1, ax2) = _figure(1, 2, figsize=(10, 4))
    ax1.plot(k_line, 1e3 * (bands - ref), "k", lw=1.2)
    _mark_gap(ax1, ref, vbm, cbm, scale=1e3, unit="meV",
              reference="Dirac points" if semimetal else "mid-gap")
    ax1.set_xlabel(r"$k_z$ (1/$\AA$)")
    ax1.set_ylabel(r"$E - E_F$ (meV)")
    ax1.set_title(r"bands at $k_\parallel = 0$ (each doubly degenerate)")
    e_p = result.adiabaticity.get("phonon_energy_meV")
    cut = bool(e_p and result.adiabaticity.get("cutoff"))
    removed = []        # kz ranges of the removed slices, |Delta0 - Delta1 kz^2| <= E_p/2
    if cut:
        lo, hi = sorted((model.delta0 + s * 0.5e-3 * e_p) / model.delta1 for s in (-1, 1))
        if hi > 0:
            removed = [(np.sqrt(max(lo, 0.0)), np.sqrt(hi)), (-np.sqrt(hi), -np.sqrt(max(lo, 0.0)))]
    for ax in (ax1, ax2):
        if semimetal:
            for r in (np.sqrt(model.delta0 / model.delta1),):
                ax.axvline(r, color="grey", ls="--", lw=0.8)
                ax.axvline(-r, color="grey", ls="--", lw=0.8)
        for i, (a, b) in enumerate(removed):
            ax.axvspan(a, b, color="grey", alpha=0.3, lw=0,
                       label=None if i else "removed: $2|D| \\leq E_p$")
    shown = np.abs(kz) <= k_end
    x = kz[shown]
    curves = [np.array(kz_res["chi"][key])[shown] for key, _ in _TERMS]
    # no line across a removed window: a NaN between the slices on either side of it
    breaks = [i for i in range(len(x) - 1) if any(x[i] < a and b < x[i + 1] for a, b in removed)]
    at = np.array(breaks, dtype=int) + 1
    for vals, (_, label) in zip(curves, _TERMS):
        ax2.plot(np.insert(x, at, np.nan), np.insert(vals, at, np.nan), lw=1.3, label=label)
    ax2.set_title(f"per-kz contribution (cutoff 2|D| > {e_p} meV)" if cut else "per-kz contribution")
    ax2.set_xlim(k_line[0], k_line[-1])
    ax2.set_xlabel(r"$k_z$ (1/$\AA$)")
    ax2.set_ylabel(rf"$\chi_{{2D}}(k_z)$ (1/$\AA^2$, $g_s$ = {calc.setting.spin_degeneracy})")
    symlog = _scale_for_spikes(ax2, x, curves)
    ax2.legend(fontsize=7, loc="upper left" if symlog else "best")
    return _save(fig, path)


def path_contributions(calc, path: str | None, out_path: str, npoints: int = 300) -> str:
    """Bands coloured by the total integrand T(k), and every term along a k-path (lattice systems).

    ``path``: special points such as ``"GKMG"``, or None for the lattice's default path.
    Energies relative to E_F (the configured Fermi energy, else mid-gap on the path), with
    the gap shaded.  Integrands are per spin and dimensionless (their integral
    ``d^dk/(2 pi)^d`` gives chi in 1/A^d); they are defined up to total k-derivatives, so
    the path shows where the contributions sit rather than a unique density.
    """
    from .kpath import along_path
    data = along_path(calc.system, path, npoints, n_occ=calc.n_occ)
    fig, (ax1, ax2) = _figure(2, 1, figsize=(6.5, 6.5), sharex=True,
                              gridspec_kw={"height_ratios": [3, 2]})
    total = data.values.total
    scale = np.abs(total).max() or 1.0
    n_occ = calc.n_occ
    ref, vbm, cbm = band_reference(data.energies, n_occ, calc.occupation.fermi_energy)
    energies = data.energies - ref
    for n in range(n_occ, energies.shape[1]):
        ax1.plot(data.x, energies[:, n], color="0.6", lw=1)
    for n in range(n_occ):
        sc = ax1.scatter(data.x, energies[:, n], c=total, s=4, cmap="coolwarm",
                         vmin=-scale, vmax=scale)
    _mark_gap(ax1, ref, vbm, cbm,
              reference="given" if calc.occupation.fermi_energy is not None else "mid-gap")
    fig.colorbar(sc, ax=[ax1, ax2], shrink=0.6,
                 label="total integrand $T(k)$ per spin (dimensionless), on occupied bands")
    ax1.set_ylabel(r"$E - E_F$ (eV)")
    curves = []
    for key, label in _TERMS:
        curves.append(getattr(data.values, key))
        ax2.plot(data.x, curves[-1], lw=1.2, label=label)
    ax2.axhline(0.0, color="k", lw=0.5)
    ax2.set_ylabel("integrand per spin\n(dimensionless)")
    _scale_for_spikes(ax2, data.x, curves)
    for ax in (ax1, ax2):
        for t in data.ticks:
            ax.axvline(t, color="grey", lw=0.6)
    ax2.set_xticks(data.ticks, data.labels)
    ax2.set_xlim(data.x[0], data.x[-1])
    ax2.legend(fontsize=7, ncol=2, loc="upper left")
    return _save(fig, out_path)


def gap_map(calc, out_path: str, phonon_energy_meV: float | None = None) -> str:
    """The direct gap (eV) over the Brillouin zone of a 2D lattice system (kz = 0 plane of a
    3D one), its minimum marked, with the contour where it equals the phonon energy (the
    adiabatic limit needs gap > E_p)."""
    from ..engine.adaptive import survey_grid
    from .check import batch_levels
    grid = survey_grid(calc.grid)            # adaptive runs: their uniform mesh
    n = grid.mesh[:2]
    k_red, gaps = [], []
    for b in range(grid.n_batches):
        batch = grid.batch(b)
        red = grid.reduced_points(b)[0]
        keep = np.abs(red[:, 2] - red[0, 2]) < 1e-12 if grid.dimension == 3 else slice(None)
        if grid.dimension == 3 and abs(red[0, 2] - grid.shift[2] / grid.mesh[2]) > 1e-12:
            continue
        e, n_occ = batch_levels(calc, batch, keep)
        k_red.append(red[keep, :2])
        gaps.append(e[:, n_occ] - e[:, n_occ - 1])
    k_red, gaps = np.concatenate(k_red), np.concatenate(gaps)
    order = np.lexsort((k_red[:, 1], k_red[:, 0]))
    img = gaps[order].reshape(n[0], n[1])
    k_sorted = k_red[order]
    fig, ax = _figure(figsize=(5, 4.2))
    im = ax.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label="direct gap (eV)")
    i_min = int(np.argmin(gaps[order]))
    ax.plot(*np.mod(k_sorted[i_min], 1.0), "r+", ms=10, mew=1.5,
            label=f"smallest: {gaps[order][i_min]:.4g} eV")
    if phonon_energy_meV:
        ax.contour(np.linspace(0, 1, n[0]), np.linspace(0, 1, n[1]), img.T,
                   levels=[1e-3 * phonon_energy_meV], colors="red", linewidths=1.2)
        ax.set_title(f"direct gap; red: gap = E_p = {phonon_energy_meV} meV")
    else:
        ax.set_title("direct gap over the zone")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel(r"$k_1$ (reduced)")
    ax.set_ylabel(r"$k_2$ (reduced)")
    return _save(fig, out_path)


def kz_profile(k_resolved_dir: str, out_path: str) -> str:
    """Per-kz contributions chi_2D(kz) (1/A^2, per spin) of a 3D lattice run, from its
    k-resolved output (``[output] k_resolved = true``).

    The kz planes of a uniform mesh with b3 along z are ``dkz`` apart; a plane's
    share of the integral, ``sum_plane weight * integrand``, is ``chi_2D(kz) dkz / 2 pi``.
    A symlog axis is used when spikes dominate.
    """
    from ..engine.kresolved import load
    d = load(k_resolved_dir)
    planes, inverse = np.unique(np.round(d["k_cart"][:, 2], 10), return_inverse=True)
    if len(planes) < 2:
        raise ValueError("per-kz contributions need a 3D mesh (more than one kz plane)")
    dkz = float(np.min(np.diff(planes)))
    period = dkz * len(planes)                      # |b3| for b3 along z
    planes = planes - period * np.round(planes / period)      # into (-|b3|/2, |b3|/2]
    order = np.argsort(planes)
    rows = {"born": d["born_a"] + d["born_b"], "energy": d["energy"], "total": d["total"]}
    rows["nontopological"] = d["total"] - rows["born"] - d["energy"]
    fig, ax = _figure(figsize=(5.5, 3.8))
    curves = []
    for key, label in _TERMS:
        chi_2d = np.bincount(inverse, weights=d["weight"] * rows[key]) * 2 * np.pi / dkz
        curves.append(chi_2d)
        ax.plot(planes[order], chi_2d[order], marker=".", lw=1.2, label=label)
    ax.set_xlabel(r"$k_z$ (1/$\AA$)")
    ax.set_ylabel(r"$\chi_{2D}(k_z)$ (1/$\AA^2$, per spin)")
    _scale_for_spikes(ax, planes, curves)
    ax.set_title("per-kz contributions")
    ax.legend(fontsize=8)
    return _save(fig, out_path)


def adaptive_refinement(calc, cells_path: str, convergence: dict, out_path: str,
                        n_map: int = 128) -> str:
    """Where an adaptive run refined: its final cells over the gap map, and its convergence.

    Left: the direct gap (eV, log colour scale) on the k_3 = 0 plane of reduced
    coordinates with the outlines of the final cells (in 3D their projections on
    the k_1-k_2 plane, so dense outlines mean refinement at some k_3).  Right: the
    estimate of chi_total's error (``result.json`` ``convergence``) against the
    k-points evaluated, per level, with the requested tolerance.
    ``cells_path``: ``adaptive_cells.npz`` of the run (reduced ``centres``, ``half``).
    """
    from matplotlib.collections import PolyCollection

    from ..geometry.bands import diagonalize
    with np.load(cells_path) as f:
        centres, half = f["centres"], f["half"]
    u = (np.arange(n_map) + 0.5) / n_map
    red = np.stack(np.meshgrid(u, u, [0.0], indexing="ij"), -1).reshape(-1, 3)
    k_cart = red @ calc.grid.reciprocal
    gaps = []
    for lo in range(0, len(k_cart), 1024):          # bounded memory: 1024 k-points at a time
        h = calc.system.derivatives(k_cart[lo:lo + 1024]).H
        gaps.append(diagonalize(h, n_occ=calc.n_occ).direct_gap)
    img = np.concatenate(gaps).reshape(n_map, n_map)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.3))
    im = ax1.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", aspect="auto",
                    norm=matplotlib.colors.LogNorm(vmin=max(img.min(), 1e-6), vmax=img.max()))
    fig.colorbar(im, ax=ax1, label="direct gap (eV)")
    lo, hi = centres[:, :2] - half[:, :2], centres[:, :2] + half[:, :2]
    boxes = np.stack([lo, np.stack([hi[:, 0], lo[:, 1]], -1), hi, np.stack([lo[:, 0], hi[:, 1]], -1)], 1)
    ax1.add_collection(PolyCollection(boxes, facecolors="none", edgecolors="white", linewidths=0.3))
    ax1.set_xlim(0, 1)
    ax1.set_ylim(0, 1)
    ax1.set_xlabel(r"$k_1$ (reduced)")
    ax1.set_ylabel(r"$k_2$ (reduced)")
    ax1.set_title(f"final cells ({len(centres)}){' projected' if centres.shape[1] == 3 else ''}")
    levels = convergence["levels"]
    pts = [lv["k_points"] for lv in levels]
    rel = [lv["error_total"] / max(abs(lv["chi_total"]), 1e-300) for lv in levels]
    ax2.loglog(pts, rel, "o-", lw=1.3, label="estimated relative error of chi total")
    ax2.axhline(convergence["tolerance"], color="k", ls="--", lw=1, label="tolerance")
    ax2.set_xlabel("k-points evaluated")
    ax2.set_ylabel("relative error estimate")
    ax2.set_title("convergence per level")
    ax2.legend(fontsize=8)
    return _save(fig, out_path)
