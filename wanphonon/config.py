"""The TOML configuration of ``wanphonon run``: parsing and validation.

The keys are a public contract (see docs/config.md).  Unknown keys are
rejected, so that a typo never silently falls back to a default.  Relative
paths are taken relative to the configuration file.

Tables: ``[model]`` (built-in models) or ``[wannier]`` + ``[[displacement]]``
(Wannier90 input); ``[electrons]``, ``[kmesh]``, ``[integration]``, ``[phonon]``,
``[output]``, ``[run]``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

_NUMBER = (int, float)

#: Allowed keys per table: name -> accepted Python types.
SCHEMA: dict[str, dict[str, tuple]] = {
    "model": {"name": (str,), "delta": _NUMBER, "zeta": _NUMBER, "v": _NUMBER, "reading": (str,),
              "delta0": _NUMBER, "delta1": _NUMBER, "delta2": _NUMBER, "eps0": _NUMBER,
              "eps1": _NUMBER, "eps2": _NUMBER, "kz": _NUMBER, "a": _NUMBER, "c": _NUMBER,
              "cell_area": _NUMBER, "cell_volume": _NUMBER},
    "wannier": {"seedname": (str,), "positions": (str,), "max_change_per_A": _NUMBER},
    "displacement": {"seedname": (str,), "u": (list,), "ion": (str,)},
    "electrons": {"occupied_bands": (int,), "fermi_energy": _NUMBER, "spin_degeneracy": (int,),
                  "gap_tolerance": _NUMBER},
    "kmesh": {"size": (list,), "shift": (list,), "batch_size": (int,),
              "tolerance": _NUMBER, "seed": (list,), "max_points": (int,)},
    "integration": {"order": (int,), "angles": (int,)},
    "phonon": {"species": (str,), "mass_amu": _NUMBER, "valence": (int, float, dict),
               "mode_weight": _NUMBER, "ion": (str,), "pattern": (dict,),
               "phonon_energy_meV": _NUMBER, "adiabatic_cutoff": (bool,)},
    "output": {"k_resolved": (bool,), "plots": (bool,)},
    "run": {"checkpoint_interval_s": _NUMBER, "device": (str,)},
}

BUILTIN_MODELS = ("graphene_dirac", "cd3as2_dirac", "graphene_dirac_lattice", "cd3as2_dirac_lattice")


@dataclass
class Config:
    """A validated configuration; ``tables`` holds the TOML tables by name."""

    path: str | None
    tables: dict[str, Any]
    displacements: list[dict[str, Any]] = field(default_factory=list)

    def get(self, table: str, key: str, default=None):
        return self.tables.get(table, {}).get(key, default)

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def resolve(self, relative: str) -> str:
        return relative if os.path.isabs(relative) else os.path.join(self.base_dir, relative)

    @property
    def is_builtin_model(self) -> bool:
        return "model" in self.tables


def read_toml(path: str, command: str = "run") -> dict[str, Any]:
    """The TOML file at ``path`` as a dictionary; a missing file or broken syntax is one
    :class:`ConfigError` naming the file and the line (``command`` names the subcommand)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("configuration file not found", path=path,
                          fix=f"check the path given to 'wanphonon {command}'") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        if m:
            line = int(m.group(1))
        else:  # "at end of document": the problem started on or before the last line
            with open(path, "rb") as fh:
                line = max(fh.read().count(b"\n"), 1)
        raise ConfigError(f"not valid TOML: {exc}", path=path, line=line,
                          fix="correct the TOML syntax (strings in quotes, arrays in [ ])") from None


def load(path: str) -> Config:
    """Read and validate a TOML configuration file."""
    return from_dict(read_toml(path), path=path)


def from_dict(data: dict[str, Any], path: str | None = None) -> Config:
    """Validate a configuration given as a (TOML-shaped) dictionary."""
    where = path or "<config>"
    unknown = set(data) - set(SCHEMA)
    if unknown:
        raise ConfigError(f"unknown table(s) {sorted(unknown)}", path=where,
                          fix=f"use only the tables {sorted(SCHEMA)}")
    tables: dict[str, Any] = {}
    for name, content in data.items():
        if name == "displacement":
            continue
        if not isinstance(content, dict):
            raise ConfigError(f"[{name}] must be a table", path=where,
                              fix=f"write it as a [{name}] section")
        tables[name] = _check_table(name, content, where)
    displacements = data.get("displacement", [])
    if not isinstance(displacements, list):
        raise ConfigError("displacements must be given as [[displacement]] tables", path=where,
                          fix="write one [[displacement]] table per displaced run")
    displacements = [_check_table("displacement", d, where) for d in displacements]
    cfg = Config(path, tables, displacements)
    _check_consistency(cfg, where)
    return cfg


def _check_table(name: str, content: dict, where: str) -> dict:
    allowed = SCHEMA[name]
    for key, value in content.items():
        if key not in allowed:
            raise ConfigError(f"unknown key '{key}' in [{name}]", path=where,
                              fix=f"allowed keys in [{name}]: {', '.join(sorted(allowed))}")
        types = allowed[key]
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"[{name}] {key} = {value!r} has the wrong type", path=where,
                              fix=f"{key} expects a {' or '.join(t.__name__ for t in types)}")
        if not isinstance(value, types):
            raise ConfigError(f"[{name}] {key} = {value!r} has the wrong type", path=where,
                              fix=f"{key} expects a {' or '.join(t.__name__ for t in types)}")
    return dict(content)


def _check_consistency(cfg: Config, where: str) -> None:
    has_model, has_wannier = "model" in cfg.tables, "wannier" in cfg.tables
    if has_model == has_wannier:
        raise ConfigError("give exactly one of [model] (built-in model) and [wannier] (Wannier90 input)",
                          path=where, fix="keep one of the two tables")
    if has_model:
        name = cfg.get("model", "name")
        if name not in BUILTIN_MODELS:
            raise ConfigError(f"unknown model name {name!r}", path=where,
                              fix=f"[model] name must be one of {', '.join(BUILTIN_MODELS)}")
    else:
        if "seedname" not in cfg.tables["wannier"]:
            raise ConfigError("[wannier] needs a seedname", path=where,
                              fix='add seedname = "<equilibrium seed>" to [wannier]')
        if not cfg.displacements:
            raise ConfigError("no [[displacement]] runs given", path=where,
                              fix="add one [[displacement]] table (seedname, u) per displaced run")
        for i, d in enumerate(cfg.displacements):
            if "seedname" not in d or "u" not in d:
                raise ConfigError(f"[[displacement]] number {i + 1} needs seedname and u", path=where,
                                  fix='e.g. seedname = "xp", u = [0.01, 0.0]')
            u = d["u"]
            if len(u) != 2 or not all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in u):
                raise ConfigError(f"[[displacement]] {d['seedname']!r}: u must be two numbers "
                                  "(u_x, u_y) in Angstrom", path=where, fix="e.g. u = [0.01, 0.0]")
        if "size" not in cfg.tables.get("kmesh", {}):
            raise ConfigError("Wannier input needs a k-mesh", path=where,
                              fix="add [kmesh] size = [n1, n2, n3] (n3 = 1 for a 2D material)")
    el = cfg.tables.get("electrons", {})
    if "occupied_bands" in el and "fermi_energy" in el:
        raise ConfigError("give either occupied_bands or fermi_energy in [electrons], not both",
                          path=where, fix="remove one of them")
    if el.get("occupied_bands", 1) < 1:
        raise ConfigError("occupied_bands must be at least 1", path=where,
                          fix="count the occupied Wannier bands (per spin if spin_degeneracy = 2)")
    if el.get("spin_degeneracy", 1) not in (1, 2):
        raise ConfigError("spin_degeneracy must be 1 or 2", path=where,
                          fix="2 for a spinless (per-spin) model of a spin-degenerate system, else 1")
    size = cfg.get("kmesh", "size")
    if size is not None and (len(size) != 3 or not all(isinstance(n, int) and n > 0 for n in size)):
        raise ConfigError(f"[kmesh] size = {size} must be three positive integers", path=where,
                          fix="e.g. size = [96, 96, 1]")
    ph = cfg.tables.get("phonon", {})
    if "species" in ph and "mass_amu" in ph:
        raise ConfigError("give either species or mass_amu in [phonon], not both", path=where,
                          fix="remove one of them")
    if ph.get("adiabatic_cutoff") and "phonon_energy_meV" not in ph:
        raise ConfigError("adiabatic_cutoff needs phonon_energy_meV", path=where,
                          fix="add phonon_energy_meV = <phonon energy> to [phonon]")
