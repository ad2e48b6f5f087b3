"""Physical results from grid integrals: chi terms, Born charges, phonon moments.

``chi`` values are ``g_s int d^dk/(2 pi)^d`` of the integrands (1/A^2 in 2D,
1/A^3 in 3D; ``g_s`` the spin degeneracy).  With the cell measure ``A_c``
(area, 2D) or ``V_c`` (volume, 3D) of the representative ion's cell, the
moment of one circularly polarised phonon quantum is (theory.md sec. 7)

    mu / mu_I = w * A_c * chi_total      (2D; V_c in 3D),

where ``mu_I = e hbar / 2 m_1`` and ``w`` is the share of the phonon's angular
momentum carried by the representative ion (``|e_1|^2`` of its mass-weighted
eigenvector; 1 when the ion carries all of it).  The electronic Born charge
per cell is ``Z_ij = g_s A_c int [dk] Tr Omega_{k_i u_j}`` in units of e.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .engine.integrate import ROW_FIELDS, Integrals
from .units import magneton_ratios

CHI_KEYS = ("born_a", "born_b", "born", "energy", "topological", "nontopological", "total")


@dataclass
class PhysicalSetting:
    """What turns integrals into physical numbers.

    dimension: 2 (per area) or 3 (per volume).
    cell_measure: cell area (A^2) or volume (A^3) of the representative ion, or None.
    mass_amu: mass of the representative ion, or None.
    valence: its ionic charge (e), added to the electronic Born charge, or None.
    """

    dimension: int
    spin_degeneracy: int
    cell_measure: float | None = None
    mass_amu: float | None = None
    species: str | None = None
    valence: float | None = None
    mode_weight: float = 1.0
    phonon_energy_meV: float | None = None


@dataclass
class Result:
    """Everything ``wanphonon run`` reports; ``to_dict`` is ``result.json``."""

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
    born_charge_total: list[list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        if d["born_charge_total"] is None:
            d.pop("born_charge_total")
        d.update(extra)
        return d

    def write_json(self, path: str) -> None:
        """Write atomically: a reader never sees a half-written result."""
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(_jsonable(self.to_dict()), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)

    def table(self) -> str:
        """A readable summary table."""
        unit = self.chi_units
        lines = [f"{'term':<16}{'chi [' + unit + ']':>24}"]
        m = self.moment
        if m:
            lines[0] += f"{'mu / mu_I':>16}"
            if "nuclear_magneton" in m:
                lines[0] += f"{'mu / mu_N':>14}{'mu / mu_B':>14}"
        lines.append("-" * len(lines[0]))
        for key in CHI_KEYS:
            row = f"{key:<16}{self.chi[key]:>24.10e}"
            if m:
                t = m["terms"][key]
                row += f"{t['ionic_magneton']:>16.6g}"
                if "nuclear_magneton" in t:
                    row += f"{t['nuclear_magneton']:>14.6g}{t['bohr_magneton']:>14.6g}"
            lines.append(row)
        lines.append("")
        z = np.array(self.born_charge)
        lines.append(f"Born charge, electronic [{self.born_charge_units}] (rows k_x,k_y,k_z; cols u_x,u_y):")
        for r in z:
            lines.append("    " + "  ".join(f"{x:12.6f}" for x in r))
        if self.born_charge_total is not None:
            lines.append("Born charge, total (ionic valence added) [e]:")
            for r in self.born_charge_total:
                lines.append("    " + "  ".join(f"{x:12.6f}" for x in r))
        lines.append(f"smallest direct gap on the grid: {self.min_direct_gap:.6g} eV")
        a = self.adiabaticity
        if a.get("phonon_energy_meV") is not None:
            lines.append(f"phonon energy {a['phonon_energy_meV']} meV: cutoff "
                         f"{'on' if a['cutoff'] else 'off'}, share of the zone with gap below it "
                         f"{a['fraction_below_phonon_energy']:.3g}")
        return "\n".join(lines)


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
    """The seven chi terms from summed integrands (spin degeneracy applied)."""
    g = spin_degeneracy
    born_a, born_b, energy, total = (g * values[k] for k in ("born_a", "born_b", "energy", "total"))
    born = born_a + born_b
    topological = born + energy
    return {"born_a": born_a, "born_b": born_b, "born": born, "energy": energy,
            "topological": topological, "nontopological": total - topological, "total": total}


def phonon_moment(chi: dict[str, float], setting: PhysicalSetting) -> dict[str, Any] | None:
    """Moment per phonon quantum in mu_I (and mu_N, mu_B when the mass is known)."""
    if setting.cell_measure is None:
        return None
    factor = setting.mode_weight * setting.cell_measure
    ratios = magneton_ratios(setting.mass_amu) if setting.mass_amu else {}
    terms = {}
    for key, value in chi.items():
        mu_i = factor * value
        terms[key] = {"ionic_magneton": mu_i, **{u: mu_i * r for u, r in ratios.items()}}
    out = {"ionic_magneton": terms["total"]["ionic_magneton"]}
    for u in ratios:
        out[u] = terms["total"][u]
    out.update({"terms": terms, "cell_measure": setting.cell_measure,
                "mode_weight": setting.mode_weight, "mass_amu": setting.mass_amu,
                "species": setting.species,
                "convention": "per phonon quantum (L_1 = w hbar), moment along +z for "
                              "counterclockwise motion of the representative ion"})
    return out


def build_result(integrals: Integrals, setting: PhysicalSetting, grid_info: dict,
                 phonon_cutoff: bool) -> Result:
    """Assemble a :class:`Result` from engine output and the physical setting."""
    g = setting.spin_degeneracy
    chi = chi_terms(integrals.values, g)
    dim = setting.dimension
    unit = "1/Angstrom^2" if dim == 2 else "1/Angstrom^3"
    z = g * integrals.born_charge
    if setting.cell_measure is not None:
        z = z * setting.cell_measure
        z_unit = "e"
    else:
        z_unit = "e/Angstrom^2" if dim == 2 else "e/Angstrom^3"
    z_total = None
    if setting.valence is not None and setting.cell_measure is not None:
        z_total = (z + setting.valence * np.eye(3, 2)).tolist()
    berry = {"integral": g * integrals.values["berry_curvature"]}
    if dim == 2:
        berry["chern_number"] = 2 * np.pi * berry["integral"]
    adiab = {"phonon_energy_meV": setting.phonon_energy_meV, "cutoff": phonon_cutoff,
             "excluded_fraction": integrals.excluded_fraction,
             "points_excluded": integrals.points_excluded}
    if setting.phonon_energy_meV is not None:
        adiab["fraction_below_phonon_energy"] = integrals.below_fraction
    return Result(chi=chi, chi_units=unit, born_charge=z.tolist(), born_charge_units=z_unit,
                  berry_curvature=berry, min_direct_gap=integrals.min_gap,
                  min_direct_gap_k=integrals.min_gap_k, adiabaticity=adiab,
                  moment=phonon_moment(chi, setting), setting=asdict(setting), grid=grid_info,
                  born_charge_total=z_total)



def kz_resolved(rows: np.ndarray, kz: np.ndarray, kz_weights: np.ndarray, spin_degeneracy: int) -> dict:
    """Per-slice chi(kz) (per area, 1/A^2) of a kz-sliced grid, in ascending kz.

    Each row holds ``w(kz) int d^2k/(2 pi)^2 f``; dividing by the slice weight
    ``w(kz)`` (which includes 1/2 pi) gives the slice's 2D value.
    """
    order = np.argsort(kz)
    per_slice = rows[order] / kz_weights[order, None]
    cols = {name: ROW_FIELDS.index(name) for name in ("born_a", "born_b", "energy", "total")}
    values = [chi_terms({n: r[c] for n, c in cols.items()}, spin_degeneracy) for r in per_slice]
    return {"kz": kz[order].tolist(), "units": "1/Angstrom^2 per slice",
            "chi": {key: [v[key] for v in values] for key in CHI_KEYS}}


def convergence_section(integrals, setting: PhysicalSetting) -> dict:
    """The ``convergence`` section of an adaptive run (``engine/adaptive.py``).

    Every chi term's estimate and error estimate (spin degeneracy applied, chi
    units), the Born charge's error (same units as ``born_charge``), and per level
    the k-points evaluated so far, the cells, chi_total and its error estimate.
    The error estimate of a term is the sum over cells of ``|Q7 - Q5|``
    (docs/performance.md).
    """
    g = setting.spin_degeneracy
    chi = chi_terms(integrals.values, g)
    err = integrals.errors
    z_scale = g * (setting.cell_measure if setting.cell_measure is not None else 1.0)
    z_err = np.array([err[f"Z_{c}"] for c in ("xx", "xy", "yx", "yy", "zx", "zy")]).reshape(3, 2)
    levels = [{"level": h["level"], "k_points": h["points"], "cells": h["cells"],
               "unresolved_cells": h["unresolved_cells"], "chi_total": g * h["value_total"],
               "error_total": g * h["error_total"]} for h in integrals.history]
    return {"method": "adaptive", "rule": "Genz-Malik degree 7 per cell, error |Q7 - Q5| (degree 5)",
            "tolerance": integrals.tolerance, "converged": integrals.converged,
            "relative_error_total": err["total"] / abs(integrals.values["total"])
            if integrals.values["total"] else None,
            "k_points": integrals.points, "cells": len(integrals.rows),
            "unresolved_cells": integrals.unresolved_cells,
            "chi": chi, "chi_error": {k: g * err[k] for k in CHI_KEYS},
            "born_charge_error": (z_scale * z_err).tolist(),
            "excluded_measure_fraction": integrals.excluded_fraction,
            "levels": levels}
