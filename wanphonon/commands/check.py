"""``wanphonon check CONFIG``: validate the inputs and summarise them, without the integrals.

Reads and cross-checks every file (as ``run`` does), aligns the gauges, and reports
the model size, the displacement stencil, the gauge-alignment residuals and the band
gap on the configured k-mesh (eigenvalues only: far cheaper than a run).
"""

from __future__ import annotations

import numpy as np

from ..api import Calculation, prepare
from ..engine.integrate import batch_derivatives


def batch_levels(calc: Calculation, batch, keep=slice(None)) -> tuple[np.ndarray, int]:
    """Eigenvalues ``(nk, N)`` (eV) of ``H(k)`` on (the ``keep`` part of) a batch, and the
    number of occupied levels."""
    e = np.linalg.eigvalsh(batch_derivatives(calc.system, batch).H[keep])
    return e, calc.n_occ if calc.n_occ is not None else int(np.count_nonzero(e[0] < calc.fermi_energy))


def gap_survey(calc: Calculation) -> dict:
    """Smallest direct gap over the grid and the largest occupied / smallest empty level (eV)."""
    grid = getattr(calc.grid, "survey", None) or calc.grid     # adaptive runs: their uniform mesh
    smallest, where, top, bottom = np.inf, None, -np.inf, np.inf
    for b in range(grid.n_batches):
        batch = grid.batch(b)
        e, n_occ = batch_levels(calc, batch)
        gap = e[:, n_occ] - e[:, n_occ - 1]
        i = int(np.argmin(gap))
        if gap[i] < smallest:
            smallest, where = float(gap[i]), batch.k_cart[i].tolist()
        top, bottom = max(top, float(e[:, n_occ - 1].max())), min(bottom, float(e[:, n_occ].min()))
    return {"min_direct_gap_eV": smallest, "at_k": where, "highest_occupied_eV": top,
            "lowest_empty_eV": bottom, "indirect_gap_eV": bottom - top}


def check(config) -> dict:
    """Everything ``wanphonon check`` prints, as a dictionary."""
    calc = prepare(config)
    info = dict(getattr(calc.system, "info", {}) or {})
    info.pop("centre_motion", None)
    out = {"system": getattr(calc.system, "name", type(calc.system).__name__),
           "num_bands": calc.system.num_bands, "occupied_bands": calc.n_occ,
           "fermi_energy": calc.fermi_energy, "grid": calc.grid.describe(),
           "displacements": calc.config.displacements, "details": info}
    if hasattr(getattr(calc.grid, "survey", None) or calc.grid, "reduced_points"):   # lattice models
        out["gap"] = gap_survey(calc)
    return out


def format_report(report: dict) -> str:
    """A readable summary of :func:`check`."""
    lines = [f"system: {report['system']}  ({report['num_bands']} bands, "
             f"{report['occupied_bands'] or 'Fermi energy ' + str(report['fermi_energy'])} occupied)"]
    d = report["details"]
    if "r_vectors" in d:
        lines.append(f"R vectors: {d['r_vectors']}, centres: {d['positions']}")
    for run in report["displacements"]:
        lines.append(f"  displaced run {run['seedname']:<24} u = {run['u']} A"
                     + (f"  (ion {run['ion']})" if "ion" in run else ""))
    for seed, a in d.get("alignment", {}).items():
        lines.append(f"  gauge {seed:<24} change {a['residual_before_per_A']:.3g}/A"
                     + (f" -> {a['residual_after_per_A']:.3g}/A after alignment" if a["unitary_applied"]
                        else "") + ("; " + "; ".join(a["notes"]) if a["notes"] else ""))
    for ion, err in d.get("dH_du_error", {}).items():
        if "richardson_relative" in err:
            lines.append(f"  dH/du ({ion}): Richardson error estimate {err['richardson_relative']:.2e}")
    g = report.get("gap")
    if g:
        lines.append(f"direct gap on the mesh: min {g['min_direct_gap_eV']:.6g} eV at k = "
                     f"{np.round(g['at_k'], 5).tolist()} 1/A; indirect gap {g['indirect_gap_eV']:.6g} eV")
    lines.append(f"grid: {report['grid']}")
    return "\n".join(lines)
