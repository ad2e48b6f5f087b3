"""Physical results from grid integrals: chi terms, Born charges, the phonon moment; result.json.

``chi`` values are ``g_s int d^dk/(2 pi)^d`` of the integrands (1/A^2 in 2D,
1/A^3 in 3D; ``g_s`` the spin degeneracy).  With the cell measure ``A_c``
(area, 2D) or ``V_c`` (volume, 3D) of the representative ion's cell, the
electrons' orbital moment of one circularly polarised phonon quantum is
(theory.md sec. 7)

    mu_el / mu_I = w * A_c * chi_total      (2D; V_c in 3D),

where ``mu_I = e hbar / 2 m_1`` and ``w`` is the share of the phonon's angular
momentum carried by the representative ion (``|e_1|^2`` of its mass-weighted
eigenvector; 1 when the ion carries all of it).  The bare ions, charges
``Z_kappa`` (their valences) on their orbits ``u_kappa = C_kappa u``, add

    mu_ions / mu_I = w * sum_kappa Z_kappa tr[C_kappa^T eps C_kappa rot] / 2

(``w sum_kappa Z_kappa c_kappa^2`` for scalar patterns;
:meth:`~wanphonon.frozen_phonon.mode.PhononPattern.point_charge_moment`), and the
phonon magnetic moment is ``mu_phonon = mu_ions + mu_el``.  The electronic Born
charge per cell is ``Z_ij = g_s A_c int [dk] Tr Omega_{k_i u_j}`` in units of e.

This module owns result.json (:meth:`Result.to_dict`) and summary.txt
(:meth:`Result.summary`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .engine.integrate import Integrals
from .units import magneton_ratios

CHI_KEYS = ("born_a", "born_b", "born", "energy", "topological", "nontopological", "total")

#: Relative size below which a printed number is round-off of a quantity that vanishes.
ROUND_OFF = 1e-11


@dataclass
class PhysicalSetting:
    """What turns integrals into physical numbers.

    dimension: 2 (per area) or 3 (per volume).
    cell_measure: cell area (A^2) or volume (A^3) of the representative ion, or None.
    mass_amu: mass of the representative ion, or None.
    valence: its ionic charge (e), or None (with a pattern: every ion's, in ``valences``).
    valences: ionic charge (e) of every ion of the mode pattern that has one.
    """

    dimension: int
    spin_degeneracy: int
    cell_measure: float | None = None
    mass_amu: float | None = None
    species: str | None = None
    valence: float | None = None
    mode_weight: float = 1.0
    phonon_energy_meV: float | None = None
    spin_source: str = ""
    valences: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    """Everything ``wanphonon run`` reports; :meth:`to_dict` is ``result.json``.

    Optional sections (None: not applicable, left out of result.json):
    ``born_charge_total`` (valences known), ``born_charge_per_ion`` and
    ``acoustic_sum_rule`` (multi-ion modes), ``phonon_pattern``, ``kz_resolved``
    (kz-sliced grids), ``k_resolved`` (per-k files written), ``gauge`` (gauge
    alignment of the runs), ``convergence`` (adaptive integration).
    """

    chi: dict[str, float]
    chi_units: str
    born_charge: list[list[float]]
    born_charge_units: str
    berry_curvature: dict[str, float]
    min_direct_gap: float
    min_direct_gap_k: list[float]
    adiabaticity: dict[str, Any]
    moment: dict[str, Any] | None
    setting: dict[str, Any]
    grid: dict[str, Any]
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    born_charge_total: list[list[float]] | None = None
    born_charge_per_ion: dict[str, Any] | None = None
    acoustic_sum_rule: dict[str, Any] | None = None
    phonon_pattern: dict[str, Any] | None = None
    kz_resolved: dict[str, Any] | None = None
    k_resolved: dict[str, Any] | None = None
    gauge: dict[str, Any] | None = None
    convergence: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def write_json(self, path: str) -> None:
        """Write atomically: a reader never sees a half-written result."""
        _write_atomic(path, json.dumps(_jsonable(self.to_dict()), indent=2) + "\n")

    def write_summary(self, path: str) -> None:
        """summary.txt: the table, units, settings and warnings, for people."""
        _write_atomic(path, self.summary() + "\n")

    def table(self) -> str:
        """The result table: chi terms, the phonon moment by part, Born charges, the gap."""
        unit = self.chi_units
        scale = max(abs(v) for v in self.chi.values()) or 1.0
        m = self.moment
        g = self.setting["spin_degeneracy"]
        per = f"spin degeneracy g_s = {g} applied" if g == 2 else "spin included in the model (g_s = 1)"
        head = f"{'electrons: term':<24}{'chi [' + unit + ']':>22}"
        units = ("ionic_magneton", "nuclear_magneton", "bohr_magneton")
        labels = {"ionic_magneton": "mu / mu_I", "nuclear_magneton": "mu / mu_N", "bohr_magneton": "mu / mu_B"}
        shown = [u for u in units if m and u in m["terms"]["total"]]
        head += "".join(f"{labels[u]:>14}" for u in shown)
        lines = [head, "-" * len(head)]
        for key in CHI_KEYS:
            row = f"{key:<24}{fmt(self.chi[key], scale):>22}"
            row += "".join(f"{fmt(m['terms'][key][u], scale * (m['cell_measure'] or 1), '.6g'):>14}"
                           for u in shown)
            lines.append(row)
        if m:
            for name, label in (("ions", "ions (bare charges)"), ("phonon", "PHONON = ions + electrons")):
                if name in m:
                    lines.append(f"{label:<24}{'':>22}" + "".join(f"{m[name][u]:>14.6g}" for u in shown))
            if "point_charge_estimate" in m:
                pc = m["point_charge_estimate"]
                lines.append(f"{'point-charge estimate':<24}{'':>22}"
                             + "".join(f"{pc[u]:>14.6g}" for u in shown if u in pc))
            lines.append(f"(moments per phonon quantum, +z for counterclockwise motion of the "
                         f"representative ion; mode weight {m['mode_weight']:.6g}; {per})")
            if "phonon" not in m:
                lines.append("NOTE: the bare ions' contribution is not included (give [phonon] valence "
                             "for every ion of the mode): the table shows the electrons' part only")
        lines.append("")
        z = np.array(self.born_charge)
        zs = max(np.abs(z).max(), 1.0)
        lines.append(f"Born charge, electronic [{self.born_charge_units}] "
                     "(rows k_x,k_y,k_z; cols u_x,u_y):")
        lines += ["    " + "  ".join(f"{fmt(x, zs):>12}" for x in r) for r in z]
        if self.born_charge_total is not None:
            lines.append("Born charge of the mode, total (ionic valences added) [e]:")
            lines += ["    " + "  ".join(f"{fmt(x, zs):>12}" for x in r) for r in self.born_charge_total]
        if self.born_charge_per_ion:
            for ion, zz in self.born_charge_per_ion.items():
                zt = np.array(zz.get("total", zz["electronic"]))
                kind = "total" if "total" in zz else "electronic"
                lines.append(f"  Z*({ion}) {kind}, in-plane: " + "  ".join(fmt(x, zs) for x in zt[:2].ravel()))
        if self.acoustic_sum_rule:
            lines.append(f"acoustic sum rule: |sum_kappa Z*_kappa| = "
                         f"{self.acoustic_sum_rule['max_abs']:.3g} e (0 for exact charges)")
        lines.append(f"smallest direct gap on the grid: {self.min_direct_gap:.6g} eV")
        a = self.adiabaticity
        if a.get("phonon_energy_meV") is not None:
            lines.append(f"phonon energy {a['phonon_energy_meV']} meV: cutoff "
                         f"{'on' if a['cutoff'] else 'off'}, share of the zone with gap below it "
                         f"{a['fraction_below_phonon_energy']:.3g}")
        return "\n".join(lines)

    def summary(self) -> str:
        """The table with its settings, the input and every warning."""
        s = self.setting
        lines = ["wanphonon result", "================", "",
                 f"system: {self.system.get('name')}  ({self.system.get('num_bands')} bands, "
                 f"occupied {self.system.get('occupied_bands')})",
                 f"dimension {s['dimension']}D; spin degeneracy {s['spin_degeneracy']}"
                 + (f" ({s['spin_source']})" if s.get("spin_source") else ""),
                 f"cell {'area' if s['dimension'] == 2 else 'volume'}: {s['cell_measure']}"
                 f" A^{s['dimension']}; representative ion {s['species']} "
                 f"({s['mass_amu']} amu)", f"grid: {self.grid}", "", self.table(), ""]
        if self.warnings:
            lines += ["WARNINGS"] + [f"- {w}" for w in self.warnings] + [""]
        lines.append("units: chi in 1/A^d (d = dimension); moments per phonon quantum in ionic "
                     "magnetons mu_I = e hbar/2m_1 of the representative ion, nuclear and Bohr magnetons")
        lines.append("full numbers: result.json; theory and signs: docs/theory.md")
        return "\n".join(lines)


def fmt(x: float, scale: float, spec: str = ".10g") -> str:
    """``x`` for printing; round-off of a vanishing quantity (below :data:`ROUND_OFF` of ``scale``) as 0."""
    return "0" if abs(x) < ROUND_OFF * abs(scale) else format(x, spec)


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def chi_terms(values: dict[str, float], spin_degeneracy: int) -> dict[str, float]:
    """The seven chi terms from summed integrands (spin degeneracy applied).

    The one definition of the derived terms: ``born = born_a + born_b``,
    ``topological = born + energy``, ``nontopological = total - topological``.
    """
    g = spin_degeneracy
    born_a, born_b, energy, total = (g * values[k] for k in ("born_a", "born_b", "energy", "total"))
    born = born_a + born_b
    topological = born + energy
    return {"born_a": born_a, "born_b": born_b, "born": born, "energy": energy,
            "topological": topological, "nontopological": total - topological, "total": total}


def in_magnetons(mu_i: float, mass_amu: float | None) -> dict[str, float]:
    """A moment given in ionic magnetons, also in nuclear and Bohr magnetons when the mass is known."""
    ratios = magneton_ratios(mass_amu) if mass_amu else {}
    return {"ionic_magneton": mu_i, **{u: mu_i * r for u, r in ratios.items()}}


def phonon_moment(chi: dict[str, float], setting: PhysicalSetting,
                  ions_mu_i: float | None) -> dict[str, Any] | None:
    """Moment per phonon quantum: each chi term of the electrons, the bare ions and their sum.

    ``ions_mu_i``: the bare ions' moment in mu_I (None: valences unknown).  The
    top-level ``ionic_magneton`` etc. are the electrons' total (as ``electrons``).
    """
    if setting.cell_measure is None:
        return None
    factor = setting.mode_weight * setting.cell_measure
    terms = {key: in_magnetons(factor * value, setting.mass_amu) for key, value in chi.items()}
    out: dict[str, Any] = dict(terms["total"])
    out.update({"terms": terms, "electrons": dict(terms["total"]),
                "cell_measure": setting.cell_measure, "mode_weight": setting.mode_weight,
                "mass_amu": setting.mass_amu, "species": setting.species,
                "convention": "per phonon quantum (L_1 = w hbar), moment along +z for "
                              "counterclockwise motion of the representative ion; top-level "
                              "values and 'electrons': the electrons' orbital part; 'phonon': "
                              "ions + electrons"})
    if ions_mu_i is not None:
        out["ions"] = {**in_magnetons(ions_mu_i, setting.mass_amu), "valences": setting.valences}
        out["phonon"] = in_magnetons(ions_mu_i + terms["total"]["ionic_magneton"], setting.mass_amu)
    return out


def build_result(integrals: Integrals, setting: PhysicalSetting, grid_info: dict,
                 phonon_cutoff: bool, *, pattern=None) -> Result:
    """Assemble a :class:`Result` from engine output, the physical setting and the phonon pattern.

    ``pattern`` (:class:`~wanphonon.frozen_phonon.mode.PhononPattern` or None):
    the ions of the mode and their valences, for the bare ions' moment, the
    mode's total Born charge, per-ion Born charges (``integrals.ion_born_charge``
    in the order of ``ion_labels``) and the point-charge estimate.
    """
    g = setting.spin_degeneracy
    chi = chi_terms(integrals.values, g)
    dim = setting.dimension
    unit = "1/Angstrom^2" if dim == 2 else "1/Angstrom^3"
    cell = setting.cell_measure
    z = g * integrals.born_charge * (cell if cell is not None else 1.0)
    z_unit = "e" if cell is not None else ("e/Angstrom^2" if dim == 2 else "e/Angstrom^3")
    berry = {"integral": g * integrals.values["berry_curvature"]}
    if dim == 2:
        berry["chern_number"] = 2 * np.pi * berry["integral"]
    adiab = {"phonon_energy_meV": setting.phonon_energy_meV, "cutoff": phonon_cutoff,
             "excluded_fraction": integrals.excluded_fraction,
             "points_excluded": integrals.points_excluded}
    if setting.phonon_energy_meV is not None:
        adiab["fraction_below_phonon_energy"] = integrals.below_fraction
    ions = _ions(pattern, setting)
    result = Result(chi=chi, chi_units=unit, born_charge=z.tolist(), born_charge_units=z_unit,
                    berry_curvature=berry, min_direct_gap=integrals.min_gap,
                    min_direct_gap_k=integrals.min_gap_k, adiabaticity=adiab,
                    moment=phonon_moment(chi, setting, None if ions is None else ions["moment"]),
                    setting=asdict(setting), grid=grid_info)
    if cell is not None and ions is not None:
        result.born_charge_total = (z + ions["charge"]).tolist()
    if pattern is not None and cell is not None:
        _mode_report(result, pattern, setting, integrals, z, ions)
    return result


def _ions(pattern, setting: PhysicalSetting) -> dict | None:
    """The bare ions' dipole per unit u (3x2, e) and moment (mu_I), or None if a valence is missing."""
    if pattern is None:
        if setting.valence is None:
            return None
        return {"charge": setting.valence * np.eye(3, 2), "moment": setting.mode_weight * setting.valence}
    if any(k not in pattern.valences for k in pattern.labels):
        return None
    charge = sum(pattern.valences[k] * np.eye(3, 2) @ c for k, c in pattern.matrices.items())
    moment = pattern.point_charge_moment({k: pattern.valences[k] * np.eye(2) for k in pattern.labels},
                                         setting.mode_weight)
    return {"charge": charge, "moment": moment}


def _mode_report(result: Result, pattern, setting: PhysicalSetting, integrals: Integrals,
                 z_mode: np.ndarray, ions: dict | None) -> None:
    """Per-ion Born charges, the acoustic sum rule and the point-charge estimate of the mode."""
    result.phonon_pattern = {k: c.tolist() for k, c in pattern.matrices.items()}
    g, cell = setting.spin_degeneracy, setting.cell_measure
    electronic = {k: g * cell * zi for k, zi in zip(pattern.labels, integrals.ion_born_charge)}
    note = None
    if not electronic and len(pattern.labels) == 2 and ions is not None:
        # runs of the whole mode: two ions and the acoustic sum rule Z_2 = -Z_1 fix both
        # charges from the mode's, Z_mode = Z_1 (C_1 - C_2) (in-plane block)
        rep, other = pattern.labels
        diff = pattern.matrices[rep] - pattern.matrices[other]
        if abs(np.linalg.det(diff)) > 1e-8:
            z_tot = (z_mode + ions["charge"])[:2] @ np.linalg.inv(diff)
            totals = {rep: z_tot, other: -z_tot}
            note = "from the mode's Born charge with the acoustic sum rule (runs of the whole mode)"
            _point_charge(result, pattern, setting, totals, note)
        return
    if not electronic:
        if len(pattern.labels) == 1 and ions is not None:
            _point_charge(result, pattern, setting, {pattern.labels[0]: (z_mode + ions["charge"])[:2]}, None)
        return
    totals = {k: e + pattern.valences[k] * np.eye(3, 2) for k, e in electronic.items() if k in pattern.valences}
    result.born_charge_per_ion = {
        k: {"electronic": e.tolist(), **({"total": totals[k].tolist()} if k in totals else {})}
        for k, e in electronic.items()}
    if len(totals) == len(electronic):
        total = sum(totals.values())
        result.acoustic_sum_rule = {
            "sum": total.tolist(), "max_abs": float(np.abs(total[:2]).max()),
            "note": "sum over the ions of the mode of Z*_kappa (in-plane rows); zero when the mode's "
                    "ions are all the atoms of the cell and the charges are converged"}
        _point_charge(result, pattern, setting, {k: t[:2] for k, t in totals.items()}, None)


def _point_charge(result: Result, pattern, setting: PhysicalSetting, totals: dict, note: str | None) -> None:
    if result.moment is None:
        return
    pc = pattern.point_charge_moment(totals, setting.mode_weight)
    result.moment["point_charge_estimate"] = {**in_magnetons(pc, setting.mass_amu),
                                              **({"note": note} if note else {})}


def kz_resolved(integrals: Integrals, kz: np.ndarray, kz_weights: np.ndarray, spin_degeneracy: int) -> dict:
    """Per-slice chi(kz) (per area, 1/A^2) of a kz-sliced grid (one batch per slice), in ascending kz.

    Each batch holds ``w(kz) int d^2k/(2 pi)^2 f``; dividing by the slice weight
    ``w(kz)`` (which includes 1/2 pi) gives the slice's 2D value.
    """
    order = np.argsort(kz)
    values = [chi_terms({n: integrals.batches[i][n] / kz_weights[i]
                         for n in ("born_a", "born_b", "energy", "total")}, spin_degeneracy)
              for i in order]
    return {"kz": kz[order].tolist(), "units": "1/Angstrom^2 per slice",
            "chi": {key: [v[key] for v in values] for key in CHI_KEYS}}


def convergence_section(integrals, setting: PhysicalSetting) -> dict:
    """The ``convergence`` section of an adaptive run (``engine/adaptive.py``).

    Every chi term's estimate and error estimate (spin degeneracy applied, chi
    units), the Born charge's error (same units as ``born_charge``), and per level
    the k-points evaluated so far, the cells, chi_total and its error estimate.
    The error estimate of a term is the sum over cells of the null-rule estimate
    of the error of ``Q7`` (``engine/adaptive.py``, docs/performance.md).
    """
    g = setting.spin_degeneracy
    chi = chi_terms(integrals.values, g)
    err = integrals.errors
    z_scale = g * (setting.cell_measure if setting.cell_measure is not None else 1.0)
    z_err = np.array([err[f"Z_{c}"] for c in ("xx", "xy", "yx", "yy", "zx", "zy")]).reshape(3, 2)
    levels = [{"level": h["level"], "k_points": h["points"], "cells": h["cells"],
               "unresolved_cells": h["unresolved_cells"], "chi_total": g * h["value_total"],
               "error_total": g * h["error_total"]} for h in integrals.history]
    return {"method": "adaptive", "rule": "Genz-Malik degree 7 per cell, error from null rules of degrees 5, 3, 1",
            "tolerance": integrals.tolerance, "converged": integrals.converged,
            "relative_error_total": err["total"] / abs(integrals.values["total"])
            if integrals.values["total"] else None,
            "k_points": integrals.points, "cells": len(integrals.centres),
            "unresolved_cells": integrals.unresolved_cells,
            "chi": chi, "chi_error": {k: g * err[k] for k in CHI_KEYS},
            "born_charge_error": (z_scale * z_err).tolist(),
            "excluded_measure_fraction": integrals.excluded_fraction,
            "levels": levels}
