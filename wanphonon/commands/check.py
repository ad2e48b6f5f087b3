"""``wanphonon check CONFIG``: the validation of ``run`` without the integrals, with a verdict.

Runs exactly what ``run`` does before integrating (:func:`wanphonon.api.setup`):
reads and cross-checks every file, aligns the gauges, settles occupation and
spin degeneracy, checks the electron count and pre-scans the gap on a coarse
mesh.  Then it surveys the direct gap on the run's own mesh (eigenvalues only:
far cheaper than a run).  The last line is ``PASS`` or ``FAIL: <reason>``; the
exit status is 0 for PASS and 2 for FAIL, so that a batch script can test it
before submitting (``--json`` for screening scripts).
"""

from __future__ import annotations

import numpy as np

from ..api import Calculation, setup
from ..engine.adaptive import survey_grid
from ..engine.grids import UniformGrid
from ..engine.integrate import batch_derivatives
from ..errors import WanphononError


def batch_levels(calc: Calculation, batch, keep=slice(None)) -> tuple[np.ndarray, int]:
    """Eigenvalues ``(nk, N)`` (eV) of ``H(k)`` on (the ``keep`` part of) a batch, and the
    number of occupied levels."""
    e = np.linalg.eigvalsh(batch_derivatives(calc.system, batch).H[keep])
    return e, calc.n_occ


def gap_survey(calc: Calculation) -> dict:
    """Smallest direct gap over the grid and the largest occupied / smallest empty level (eV)."""
    grid = survey_grid(calc.grid)            # adaptive runs: their uniform mesh
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
    """Everything ``wanphonon check`` prints, as a dictionary with ``verdict`` PASS or FAIL."""
    try:
        calc = setup(config)
        out = _report(calc)
        g = out.get("gap")
        tol = calc.occupation.gap_tolerance
        if g and g["min_direct_gap_eV"] < tol and not calc.occupation.adiabatic_cutoff:
            out.update(verdict="FAIL", reason=f"the direct gap on the mesh is {g['min_direct_gap_eV']:.3e} "
                       f"eV at k = {np.round(g['at_k'], 6).tolist()} 1/A, below gap_tolerance {tol:g} eV")
        else:
            out["verdict"] = "PASS"
    except WanphononError as exc:
        return {"verdict": "FAIL", "reason": str(exc)}
    return out


def _report(calc: Calculation) -> dict:
    info = dict(calc.system.info or {})
    info.pop("centre_motion", None)
    out = {"system": calc.system.name, "num_bands": calc.system.num_bands,
           "occupied_bands": calc.n_occ, "fermi_energy": calc.occupation.fermi_energy,
           "spin_degeneracy": calc.setting.spin_degeneracy, "spin_source": calc.setting.spin_source,
           "grid": calc.grid.describe(), "displacements": calc.config.raw.get("displacement", []),
           "details": info, "prescan": calc.prescan, "warnings": list(calc.warnings)}
    if isinstance(survey_grid(calc.grid), UniformGrid):   # lattice models: survey the gap on the mesh
        out["gap"] = gap_survey(calc)
    return out


def format_report(report: dict) -> str:
    """A readable summary of :func:`check`, ending in the verdict line."""
    if "system" not in report:
        return report["reason"] + "\n" + verdict_line(report)
    lines = [f"system: {report['system']}  ({report['num_bands']} bands, "
             f"{report['occupied_bands']} occupied"
             + (f" below the Fermi energy {report['fermi_energy']} eV" if report["fermi_energy"] is not None
                else "") + f"; spin degeneracy {report['spin_degeneracy']})"]
    d = report["details"]
    if "r_vectors" in d:
        lines.append(f"R vectors: {d['r_vectors']}, centres: {d['positions']}")
    for run in report["displacements"]:
        lines.append(f"  displaced run {run['seedname']:<24} u = {run['u']} A"
                     + (f"  (ion {run['ion']})" if "ion" in run else ""))
    if "gauge" in d:                # issue 11: what the gauge alignment does to each run
        from ..frozen_phonon.gauge import describe_lines
        lines += describe_lines(d["gauge"]["runs"])
    for ion, err in d.get("dH_du_error", {}).items():
        if "richardson_relative" in err:
            lines.append(f"  dH/du ({ion}): Richardson error estimate {err['richardson_relative']:.2e}")
    p = report["prescan"]
    if p.get("points"):
        lines.append(f"gap pre-scan ({p['points']} k-points): min direct gap {p['min_direct_gap_eV']:.6g} eV")
    g = report.get("gap")
    if g:
        lines.append(f"direct gap on the mesh: min {g['min_direct_gap_eV']:.6g} eV at k = "
                     f"{np.round(g['at_k'], 5).tolist()} 1/A; indirect gap {g['indirect_gap_eV']:.6g} eV")
    lines.append(f"grid: {report['grid']}")
    lines += [f"WARNING: {w}" for w in report["warnings"]]
    if report["verdict"] != "PASS":
        lines.append(report["reason"])
    lines.append(verdict_line(report))
    return "\n".join(lines)


def verdict_line(report: dict) -> str:
    """``PASS``, or ``FAIL: <the problem, one line>`` (the fix is in the full reason)."""
    if report["verdict"] == "PASS":
        return "PASS"
    return "FAIL: " + report["reason"].splitlines()[0]
