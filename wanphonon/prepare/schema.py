"""The TOML input of ``wanphonon prepare``: parsing and validation.

Same conventions as :mod:`wanphonon.config`: unknown tables and keys are
rejected with a :class:`~wanphonon.errors.ConfigError` naming the key, values are
type-checked, and relative paths are taken relative to the file.  The keys are
documented in docs/prepare.md.

Tables: ``[structure]``, ``[mode]``, ``[displacements]``, ``[dft]`` (keys per
code), ``[wannier]`` (Wannier90 keywords, checked against a list of known ones;
``extra`` and ``blocks`` pass anything through) and ``[wanphonon]`` (settings
copied into the generated ``wanphonon.toml``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from ..config import check_types, read_toml
from ..errors import ConfigError

_NUMBER = (int, float)
_SCALAR = (str, int, float, bool)

#: Allowed keys per table: name -> accepted Python types.
SCHEMA: dict[str, dict[str, tuple]] = {
    "structure": {"file": (str,), "format": (str,), "supercell": (list,), "symprec": _NUMBER},
    "mode": {"representative": (str, int), "pattern": (dict,), "vectors": (list,),
             "masses": (dict,), "phonopy": (str,), "qpoint": (list,), "bands": (list,),
             "runs": (str,)},
    "displacements": {"delta": _NUMBER, "second_order": (bool,)},
    "dft": {"code": (str,)},          # the rest per code: DFT_SCHEMA
    "wannier": {},                    # Wannier90 keywords: WANNIER_KEYWORDS
    "wanphonon": {"occupied_bands": (int,), "fermi_energy": _NUMBER, "spin_degeneracy": (int,),
                  "kmesh": (list,), "valence": (int, float, dict), "positions": (str,),
                  "phonon_energy_meV": _NUMBER, "adiabatic_cutoff": (bool,)},
}

REQUIRED_TABLES = ("mode", "dft", "wannier")

#: ``[dft]`` keys per code (besides ``code``).
DFT_SCHEMA: dict[str, dict[str, tuple]] = {
    "qe": {"pseudopotentials": (dict,), "pseudo_dir": (str,), "ecutwfc": _NUMBER, "ecutrho": _NUMBER,
           "outdir": (str,), "control": (dict,), "system": (dict,), "electrons": (dict,)},
    "vasp": {"incar": (dict,), "potcars": (dict,)},
    "gpaw": {"ecut": _NUMBER, "xc": (str,), "orbitals": (dict,), "parameters": (dict,)},
}
DFT_REQUIRED = {"qe": ("pseudopotentials", "ecutwfc"), "vasp": (), "gpaw": ("ecut", "orbitals")}

#: Wannier90 (3.1, wannier90.x) keywords accepted in ``[wannier]``; anything else goes in
#: ``[wannier] extra = { ... }`` so that a typo is caught rather than passed on.
WANNIER_KEYWORDS = frozenset("""
num_wann num_bands mp_grid projections exclude_bands spinors shell_list search_shells
skip_b1_tests kmesh_tol higher_order_n higher_order_nearest_shells auto_projections
use_bloch_phases num_iter num_cg_steps conv_window conv_tol precond conv_noise_amp
conv_noise_num num_dump_cycles num_print_cycles write_r2mn guiding_centres num_guide_cycles
num_no_guide_iter trial_step fixed_step site_symmetry symmetrize_eps slwf_num slwf_constrain
slwf_lambda dis_win_min dis_win_max dis_froz_min dis_froz_max dis_num_iter dis_mix_ratio
dis_conv_tol dis_conv_window dis_spheres_num dis_spheres_first_wann wannier_plot
wannier_plot_list wannier_plot_supercell wannier_plot_format wannier_plot_mode
wannier_plot_radius wannier_plot_scale wannier_plot_spinor_mode wannier_plot_spinor_phase
bands_plot bands_num_points bands_plot_format bands_plot_project bands_plot_mode bands_plot_dim
fermi_surface_plot fermi_surface_num_points fermi_surface_plot_format fermi_energy
fermi_energy_min fermi_energy_max fermi_energy_step write_hr write_rmn write_bvec write_tb
hr_cutoff dist_cutoff dist_cutoff_mode dist_cutoff_hc one_dim_axis translation_centre_frac
use_ws_distance ws_distance_tol ws_search_size write_u_matrices write_xyz write_vdw_data
write_hr_diag translate_home_cell iprint energy_unit length_unit wvfn_formatted spin
timing_level optimisation restart gamma_only write_proj transport transport_mode
""".split())
#: Keywords ``prepare`` writes itself.
WANNIER_MANAGED = frozenset({"num_wann", "mp_grid", "projections", "unit_cell_cart", "atoms_cart",
                             "atoms_frac", "kpoints"})


@dataclass
class PrepareConfig:
    """A validated ``prepare`` configuration; ``tables`` holds the TOML tables by name."""

    path: str | None
    tables: dict[str, Any]

    def table(self, name: str) -> dict[str, Any]:
        return self.tables.get(name, {})

    def get(self, table: str, key: str, default=None):
        return self.tables.get(table, {}).get(key, default)

    @property
    def where(self) -> str:
        return self.path or "<prepare config>"

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def resolve(self, relative: str) -> str:
        return relative if os.path.isabs(relative) else os.path.join(self.base_dir, relative)

    def error(self, message: str, fix: str | None = None) -> ConfigError:
        return ConfigError(message, path=self.where, fix=fix)


def load(path: str) -> PrepareConfig:
    """Read and validate a ``prepare`` TOML file."""
    return from_dict(read_toml(path, "prepare"), path=path)


def from_dict(data: dict[str, Any], path: str | None = None) -> PrepareConfig:
    """Validate a ``prepare`` configuration given as a (TOML-shaped) dictionary."""
    cfg = PrepareConfig(path, {})
    unknown = set(data) - set(SCHEMA)
    if unknown:
        raise cfg.error(f"unknown table(s) {sorted(unknown)}", fix=f"use only the tables {sorted(SCHEMA)}")
    for name in REQUIRED_TABLES:
        if name not in data:
            raise cfg.error(f"the table [{name}] is missing", fix=f"add a [{name}] section (docs/prepare.md)")
    for name, content in data.items():
        if not isinstance(content, dict):
            raise cfg.error(f"[{name}] must be a table", fix=f"write it as a [{name}] section")
        if name == "dft":
            cfg.tables[name] = _check_dft(content, cfg)
        elif name == "wannier":
            cfg.tables[name] = _check_wannier(content, cfg)
        else:
            cfg.tables[name] = _check_table(name, content, SCHEMA[name], cfg)
    _check_values(cfg)
    return cfg


def _type_error(cfg, name, key, value, types) -> ConfigError:
    return cfg.error(f"[{name}] {key} = {value!r} has the wrong type",
                     fix=f"{key} expects a {' or '.join(t.__name__ for t in types)}")


def _check_table(name: str, content: dict, allowed: dict, cfg: PrepareConfig) -> dict:
    return check_types(name, content, allowed, cfg.where)


def _check_dft(content: dict, cfg: PrepareConfig) -> dict:
    code = content.get("code")
    if code not in DFT_SCHEMA:
        raise cfg.error(f"[dft] code = {code!r} is not supported",
                        fix=f"give code = one of {', '.join(repr(c) for c in DFT_SCHEMA)}")
    table = _check_table("dft", content, {"code": (str,), **DFT_SCHEMA[code]}, cfg)
    for key in DFT_REQUIRED[code]:
        if key not in table:
            raise cfg.error(f"[dft] code = \"{code}\" needs '{key}'", fix=f"add {key} to [dft] (docs/prepare.md)")
    for key, value in table.items():
        if isinstance(value, dict):
            for k, v in value.items():
                ok = (_SCALAR + (list, dict) if key == "parameters" else
                      _SCALAR + (list,) if key in ("orbitals", "potcars") else _SCALAR)
                if not isinstance(v, ok):
                    raise cfg.error(f"[dft] {key}.{k} = {v!r} has the wrong type",
                                    fix="use a string, a number or a boolean")
    return table


def _check_wannier(content: dict, cfg: PrepareConfig) -> dict:
    table: dict[str, Any] = {}
    for key, value in content.items():
        low = key.lower()
        if low in ("extra", "blocks"):
            if not isinstance(value, dict):
                raise _type_error(cfg, "wannier", key, value, (dict,))
            for k, v in value.items():
                if not re.fullmatch(r"[A-Za-z_]\w*", k):
                    raise cfg.error(f"[wannier] {key}.{k} is not a Wannier90 keyword name")
                if low == "blocks" and not (isinstance(v, list) and all(isinstance(s, str) for s in v)):
                    raise cfg.error(f"[wannier] blocks.{k} must be a list of lines (strings)",
                                    fix=f'e.g. blocks = {{ {k} = ["line 1", "line 2"] }}')
                if low == "blocks" and k.lower() in WANNIER_MANAGED:
                    raise cfg.error(f"[wannier] blocks.{k} is written by prepare",
                                    fix="remove it (projections: give [wannier] projections)")
                if low == "extra" and not isinstance(v, _SCALAR + (list,)):
                    raise _type_error(cfg, "wannier", f"extra.{k}", v, _SCALAR + (list,))
            table[low] = {k.lower(): v for k, v in value.items()}
            continue
        if low in ("unit_cell_cart", "atoms_cart", "atoms_frac", "kpoints"):
            raise cfg.error(f"[wannier] {key} is written by prepare from the structure",
                            fix=f"remove '{key}' from [wannier]")
        if low not in WANNIER_KEYWORDS:
            raise cfg.error(f"unknown Wannier90 keyword '{key}' in [wannier]",
                            fix="check the spelling; a keyword that is not in prepare's list goes into "
                                f"[wannier] extra = {{ {key} = ... }}")
        if not isinstance(value, _SCALAR + (list,)):
            raise _type_error(cfg, "wannier", key, value, _SCALAR + (list,))
        table[low] = value
    for key in ("num_wann", "projections", "mp_grid"):
        if key not in table:
            raise cfg.error(f"[wannier] needs '{key}'", fix=f"add {key} to [wannier]")
    if not isinstance(table["num_wann"], int) or isinstance(table["num_wann"], bool) or table["num_wann"] < 1:
        raise cfg.error("[wannier] num_wann must be a positive integer")
    if "num_bands" in table and (not isinstance(table["num_bands"], int) or table["num_bands"] < table["num_wann"]):
        raise cfg.error("[wannier] num_bands must be an integer >= num_wann")
    proj = table["projections"]
    if isinstance(proj, str):
        table["projections"] = proj = [proj]
    if not (isinstance(proj, list) and proj and all(isinstance(p, str) for p in proj)):
        raise cfg.error("[wannier] projections must be a list of Wannier90 projection lines",
                        fix='e.g. projections = ["N:sp2", "B:pz"]')
    mp = table["mp_grid"]
    if not (isinstance(mp, list) and len(mp) == 3 and all(isinstance(n, int) and not isinstance(n, bool)
                                                          and n > 0 for n in mp)):
        raise cfg.error(f"[wannier] mp_grid = {mp!r} must be three positive integers", fix="e.g. [9, 9, 1]")
    return table


def _is_number(x) -> bool:
    return isinstance(x, _NUMBER) and not isinstance(x, bool)


def _check_values(cfg: PrepareConfig) -> None:
    st, mode, disp, wp = (cfg.table(n) for n in ("structure", "mode", "displacements", "wanphonon"))
    sc = st.get("supercell")
    if sc is not None:
        ok = (len(sc) == 3 and all(_is_number(x) and float(x).is_integer() for x in sc)) or (
            len(sc) == 3 and all(isinstance(r, list) and len(r) == 3 and all(
                _is_number(x) and float(x).is_integer() for x in r) for r in sc))
        if not ok:
            raise cfg.error(f"[structure] supercell = {sc!r} must be 3 integers or a 3x3 integer matrix",
                            fix="e.g. supercell = [[2, 1, 0], [-1, 1, 0], [0, 0, 1]]")
    if "symprec" in st and not 0 < st["symprec"] < 0.1:
        raise cfg.error("[structure] symprec must be between 0 and 0.1 Angstrom", fix="e.g. symprec = 1e-3")
    explicit = [k for k in ("pattern", "vectors") if k in mode]
    if len(explicit) > 1:
        raise cfg.error("[mode] give either pattern or vectors, not both", fix="remove one of them")
    if explicit and "phonopy" in mode:
        raise cfg.error(f"[mode] give either {explicit[0]} (explicit mode) or phonopy, not both",
                        fix="remove one of them")
    if "pattern" in mode and "representative" not in mode:
        raise cfg.error("[mode] pattern needs the representative ion",
                        fix='add representative = "<label>" (the ion whose displacement is u)')
    q = mode.get("qpoint")
    if q is not None and not (len(q) == 3 and all(_is_number(x) for x in q)):
        raise cfg.error(f"[mode] qpoint = {q!r} must be three numbers (reduced coordinates)")
    b = mode.get("bands")
    if b is not None and not (1 <= len(b) and all(isinstance(i, int) and not isinstance(i, bool)
                                                  and i >= 0 for i in b)):
        raise cfg.error(f"[mode] bands = {b!r} must be 0-based band indices", fix="e.g. bands = [4, 5]")
    if mode.get("runs", "mode") not in ("mode", "ions"):
        raise cfg.error(f"[mode] runs = {mode['runs']!r} is not known",
                        fix='use "mode" (all ions move together) or "ions" (one ion at a time)')
    for k, v in mode.get("masses", {}).items():
        if not _is_number(v) or v <= 0:
            raise cfg.error(f"[mode] masses.{k} = {v!r} must be a positive number (amu)")
    delta = disp.get("delta", 0.01)
    if not 0 < delta <= 0.1:
        raise cfg.error(f"[displacements] delta = {delta} must be in (0, 0.1] Angstrom",
                        fix="typical values are 0.005-0.02 A")
    km = wp.get("kmesh")
    if km is not None and not (len(km) == 3 and all(isinstance(n, int) and n > 0 for n in km)):
        raise cfg.error(f"[wanphonon] kmesh = {km!r} must be three positive integers", fix="e.g. [48, 48, 1]")
    if "occupied_bands" in wp and "fermi_energy" in wp:
        raise cfg.error("give either occupied_bands or fermi_energy in [wanphonon], not both")
    if wp.get("positions", "wannier") not in ("wannier", "fixed"):
        raise cfg.error(f"[wanphonon] positions = {wp['positions']!r} is not known",
                        fix='use "wannier" or "fixed"')
