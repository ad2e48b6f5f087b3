"""The TOML configuration of ``wanphonon run``, parsed once into typed settings.

The keys are a public contract (docs/config.md).  :func:`load` (a file) and
:func:`from_dict` (the same shape as a dictionary) validate every table and
return a :class:`Config` of frozen dataclasses; no other module reads TOML
tables.  Unknown tables and keys are rejected, so a typo never silently falls
back to a default.  Relative paths are taken relative to the configuration file.

Tables: ``[model]`` (built-in models) or ``[wannier]`` + ``[[displacement]]``
(Wannier90 input); ``[electrons]``, ``[kmesh]``, ``[integration]``, ``[phonon]``,
``[output]``, ``[run]``.  Units: eV, Angstrom, amu, meV for phonon energies.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

_NUMBER = (int, float)

#: Keys of ``[model]`` and their types; which of them apply depends on the model
#: (checked by :mod:`wanphonon.systems.builtin`).
MODEL_KEYS: dict[str, tuple] = {
    "name": (str,), "delta": _NUMBER, "zeta": _NUMBER, "v": _NUMBER, "reading": (str,),
    "delta0": _NUMBER, "delta1": _NUMBER, "delta2": _NUMBER, "eps0": _NUMBER, "eps1": _NUMBER,
    "eps2": _NUMBER, "kz": _NUMBER, "a": _NUMBER, "c": _NUMBER, "cell_area": _NUMBER,
    "cell_volume": _NUMBER}

BUILTIN_MODELS = ("graphene_dirac", "cd3as2_dirac", "graphene_dirac_lattice", "cd3as2_dirac_lattice")


@dataclass(frozen=True)
class ModelSettings:
    """``[model]``: a built-in model by ``name`` and its parameters (eV, Angstrom)."""

    name: str
    params: dict[str, Any]

    def get(self, key: str, default=None):
        return self.params.get(key, default)


@dataclass(frozen=True)
class WannierSettings:
    """``[wannier]``: the equilibrium run and how the runs are combined."""

    seedname: str
    positions: str = "wannier"            # "wannier": centres move with the ions; "fixed"
    max_change_per_A: float | None = None  # gauge-alignment threshold (1/A); None: the default
    max_gauge_uncertainty: float | None = None  # refusal limit of an ambiguous alignment; None: default


@dataclass(frozen=True)
class Displacement:
    """``[[displacement]]``: one displaced run, ``u = (u_x, u_y)`` in Angstrom."""

    seedname: str
    u: tuple[float, float]
    ion: str | None = None                 # None: the representative ion; "mode": every ion


@dataclass(frozen=True)
class ElectronSettings:
    """``[electrons]``: the occupation, the spin degeneracy and the gap tolerance (eV)."""

    occupied_bands: int | None = None
    fermi_energy: float | None = None
    spin_degeneracy: int | None = None     # None: from the input (.win spinors) or the model
    gap_tolerance: float = 1.0e-4


@dataclass(frozen=True)
class KMeshSettings:
    """``[kmesh]``: uniform mesh ``size`` (``n3 = 1``: 2D), ``shift`` in grid steps; with
    ``tolerance`` the adaptive integrator (:mod:`wanphonon.engine.adaptive`) instead."""

    size: tuple[int, int, int] | None = None
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    batch_size: int | None = None
    tolerance: float | None = None        # relative, on chi total: adaptive integration
    seed: tuple[int, int, int] | None = None   # adaptive: seed cells per reduced direction
    max_points: int | None = None          # adaptive: k-point budget


@dataclass(frozen=True)
class IntegrationSettings:
    """``[integration]``: polar grids of the continuum models."""

    order: int = 8
    angles: int = 4


@dataclass(frozen=True)
class PhononSettings:
    """``[phonon]``: the representative ion, the mode pattern, valences and the phonon energy."""

    species: str | None = None
    mass_amu: float | None = None
    valence: float | dict[str, float] | None = None
    mode_weight: float | None = None
    ion: str | None = None
    pattern: dict[str, Any] = field(default_factory=dict)
    phonon_energy_meV: float | None = None
    adiabatic_cutoff: bool = False

    @property
    def representative(self) -> str:
        """Label of the representative ion (``ion``, else ``species``)."""
        return self.ion or self.species or "representative"

    @property
    def phonon_energy(self) -> float | None:
        """The phonon energy in eV (None if not given)."""
        return None if self.phonon_energy_meV is None else 1e-3 * self.phonon_energy_meV


@dataclass(frozen=True)
class OutputSettings:
    """``[output]``: extra output files."""

    k_resolved: bool = False
    plots: bool = False


@dataclass(frozen=True)
class RunSettings:
    """``[run]``: how a run is carried out (never what it computes)."""

    checkpoint_interval_s: float = 120.0
    device: str = "numpy"                  # "numpy", "gpu" (= "cuda") or "cpu" (torch): engine/device.py


#: Table name -> (settings class, {key: accepted Python types}).
TABLES: dict[str, tuple[type, dict[str, tuple]]] = {
    "wannier": (WannierSettings, {"seedname": (str,), "positions": (str,),
                                  "max_change_per_A": _NUMBER, "max_gauge_uncertainty": _NUMBER}),
    "displacement": (Displacement, {"seedname": (str,), "u": (list,), "ion": (str,)}),
    "electrons": (ElectronSettings, {"occupied_bands": (int,), "fermi_energy": _NUMBER,
                                     "spin_degeneracy": (int,), "gap_tolerance": _NUMBER}),
    "kmesh": (KMeshSettings, {"size": (list,), "shift": (list,), "batch_size": (int,),
                              "tolerance": _NUMBER, "seed": (list,), "max_points": (int,)}),
    "integration": (IntegrationSettings, {"order": (int,), "angles": (int,)}),
    "phonon": (PhononSettings, {"species": (str,), "mass_amu": _NUMBER,
                                "valence": (int, float, dict), "mode_weight": _NUMBER,
                                "ion": (str,), "pattern": (dict,), "phonon_energy_meV": _NUMBER,
                                "adiabatic_cutoff": (bool,)}),
    "output": (OutputSettings, {"k_resolved": (bool,), "plots": (bool,)}),
    "run": (RunSettings, {"checkpoint_interval_s": _NUMBER, "device": (str,)}),
}
#: Tables that change how a run is carried out, not its numbers (free to change before --resume).
EXECUTION_TABLES = ("run", "output")


@dataclass(frozen=True)
class Config:
    """A validated configuration.

    ``raw`` keeps the tables as given (for provenance in result.json); every
    module reads the typed settings.
    """

    path: str | None
    model: ModelSettings | None
    wannier: WannierSettings | None
    displacements: tuple[Displacement, ...]
    electrons: ElectronSettings
    kmesh: KMeshSettings
    integration: IntegrationSettings
    phonon: PhononSettings
    output: OutputSettings
    run: RunSettings
    raw: dict[str, Any]

    @property
    def source(self) -> str:
        """The file name to quote in messages."""
        return self.path or "<config>"

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def resolve(self, relative: str) -> str:
        """A path of the configuration, relative to its file."""
        return relative if os.path.isabs(relative) else os.path.join(self.base_dir, relative)

    @property
    def is_builtin_model(self) -> bool:
        return self.model is not None

    def physics(self) -> dict[str, Any]:
        """The tables that determine the numbers (for checkpoint fingerprints)."""
        return {k: v for k, v in self.raw.items() if k not in EXECUTION_TABLES}


def read_toml(path: str, command: str = "run") -> dict[str, Any]:
    """The TOML file at ``path`` as a dictionary; a missing file or broken syntax is one
    :class:`ConfigError` naming the file and the line (``command`` names the subcommand)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("configuration file not found", path=path,
                          fix=f"check the path given to 'wanphonon {command}'") from None
    except IsADirectoryError:
        raise ConfigError("this is a directory, not a configuration file", path=path,
                          fix=f"give 'wanphonon {command}' the TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError("not a text (UTF-8) file", path=path,
                          fix="give the TOML configuration file") from None
    except OSError as exc:      # a directory, a link loop, no permission
        raise ConfigError(f"cannot read the configuration file: {exc.strerror or exc}", path=path,
                          fix=f"give 'wanphonon {command}' a readable TOML file") from None
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
    return from_dict(read_toml(os.fspath(path)), path=os.fspath(path))


def check_types(table: str, content: dict, allowed: dict[str, tuple], where: str) -> dict:
    """``content`` if every key is allowed and of an accepted type (bool is no number)."""
    if not isinstance(content, dict):
        raise ConfigError(f"[{table}] must be a table", path=where, fix=f"write it as a [{table}] section")
    for key, value in content.items():
        if key not in allowed:
            raise ConfigError(f"unknown key '{key}' in [{table}]", path=where,
                              fix=f"allowed keys in [{table}]: {', '.join(sorted(allowed))}")
        types = allowed[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"[{table}] {key} = {value!r} has the wrong type", path=where,
                              fix=f"{key} expects a {' or '.join(t.__name__ for t in types)}")
    return dict(content)


def from_dict(data: dict[str, Any], path: str | None = None) -> Config:
    """Validate a configuration given as a (TOML-shaped) dictionary."""
    where = path or "<config>"
    known = set(TABLES) | {"model"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown table(s) {sorted(unknown)}", path=where,
                          fix=f"use only the tables {sorted(known)}")
    has_model, has_wannier = "model" in data, "wannier" in data
    if has_model == has_wannier:
        raise ConfigError("give exactly one of [model] (built-in model) and [wannier] (Wannier90 input)",
                          path=where, fix="keep one of the two tables")
    disp = data.get("displacement", [])
    if not isinstance(disp, list):
        raise ConfigError("displacements must be given as [[displacement]] tables", path=where,
                          fix="write one [[displacement]] table per displaced run")
    tables = {name: check_types(name, data.get(name, {}), TABLES[name][1], where)
              for name in TABLES if name != "displacement"}
    model = _model(data["model"], where) if has_model else None
    wannier = _wannier(tables.pop("wannier"), disp, where) if has_wannier else None
    displacements = tuple(_displacement(i, check_types("displacement", d, TABLES["displacement"][1], where),
                                        where) for i, d in enumerate(disp))
    if has_wannier and not displacements:
        raise ConfigError("no [[displacement]] runs given", path=where,
                          fix="add one [[displacement]] table (seedname, u) per displaced run")
    if has_model and displacements:
        raise ConfigError("[[displacement]] runs belong to Wannier90 input, not to a built-in model",
                          path=where, fix="remove the [[displacement]] tables or use [wannier]")
    cfg = Config(path, model, wannier, displacements,
                 electrons=_electrons(tables["electrons"], where),
                 kmesh=_kmesh(tables["kmesh"], has_wannier, where),
                 integration=IntegrationSettings(**tables["integration"]),
                 phonon=_phonon(tables["phonon"], where),
                 output=OutputSettings(**tables["output"]),
                 run=_run(tables["run"], where),
                 raw=data)
    return cfg


def _model(content: Any, where: str) -> ModelSettings:
    params = check_types("model", content, MODEL_KEYS, where)
    name = params.pop("name", None)
    if name not in BUILTIN_MODELS:
        raise ConfigError(f"unknown model name {name!r}", path=where,
                          fix=f"[model] name must be one of {', '.join(BUILTIN_MODELS)}")
    return ModelSettings(name, params)


def _positive(table: str, key: str, value, where: str, fix: str) -> None:
    """Error unless ``value`` (when given) is a positive number."""
    if value is not None and not value > 0:
        raise ConfigError(f"[{table}] {key} = {value} must be positive", path=where, fix=fix)


def _three_counts(table: str, key: str, value, where: str, fix: str) -> None:
    """Error unless ``value`` (when given) is three positive integers."""
    if value is not None and (len(value) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value)):
        raise ConfigError(f"[{table}] {key} = {value} must be three positive integers", path=where,
                          fix=fix)


def _wannier(w: dict, displacements: list, where: str) -> WannierSettings:
    if "seedname" not in w:
        raise ConfigError("[wannier] needs a seedname", path=where,
                          fix='add seedname = "<equilibrium seed>" to [wannier]')
    positions = w.get("positions", "wannier")
    if positions not in ("wannier", "fixed"):
        raise ConfigError(f"[wannier] positions = {positions!r} is not known", path=where,
                          fix='use "wannier" (centres move with the ions) or "fixed"')
    limit, unc = w.get("max_change_per_A"), w.get("max_gauge_uncertainty")
    _positive("wannier", "max_change_per_A", limit, where, "give a threshold in 1/A, e.g. 10")
    _positive("wannier", "max_gauge_uncertainty", unc, where,
              "give the largest accepted relative uncertainty, e.g. 0.05")
    return WannierSettings(w["seedname"], positions, None if limit is None else float(limit),
                           None if unc is None else float(unc))


def _displacement(i: int, d: dict, where: str) -> Displacement:
    if "seedname" not in d or "u" not in d:
        raise ConfigError(f"[[displacement]] number {i + 1} needs seedname and u", path=where,
                          fix='e.g. seedname = "xp", u = [0.01, 0.0]')
    u = d["u"]
    if len(u) != 2 or not all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in u):
        raise ConfigError(f"[[displacement]] {d['seedname']!r}: u must be two numbers "
                          "(u_x, u_y) in Angstrom", path=where, fix="e.g. u = [0.01, 0.0]")
    return Displacement(d["seedname"], (float(u[0]), float(u[1])), d.get("ion"))


def _electrons(el: dict, where: str) -> ElectronSettings:
    if "occupied_bands" in el and "fermi_energy" in el:
        raise ConfigError("give either occupied_bands or fermi_energy in [electrons], not both",
                          path=where, fix="remove one of them")
    if el.get("occupied_bands", 1) < 1:
        raise ConfigError("occupied_bands must be at least 1", path=where,
                          fix="count the occupied Wannier bands (per spin if spin_degeneracy = 2)")
    if el.get("spin_degeneracy", 1) not in (1, 2):
        raise ConfigError("spin_degeneracy must be 1 or 2", path=where,
                          fix="2 for a spinless (per-spin) model of a spin-degenerate system, else 1")
    _positive("electrons", "gap_tolerance", el.get("gap_tolerance"), where,
              "give the smallest admissible direct gap in eV, e.g. 1e-4")
    return ElectronSettings(**{k: float(v) if k in ("fermi_energy", "gap_tolerance") else v
                               for k, v in el.items()})


def _kmesh(k: dict, needed: bool, where: str) -> KMeshSettings:
    size = k.get("size")
    if size is None and needed:
        raise ConfigError("Wannier input needs a k-mesh", path=where,
                          fix="add [kmesh] size = [n1, n2, n3] (n3 = 1 for a 2D material)")
    _three_counts("kmesh", "size", size, where, "e.g. size = [96, 96, 1]")
    shift = k.get("shift", [0.0, 0.0, 0.0])
    if len(shift) != 3 or not all(isinstance(x, _NUMBER) and not isinstance(x, bool) for x in shift):
        raise ConfigError(f"[kmesh] shift = {shift} must be three numbers", path=where,
                          fix="e.g. shift = [0.5, 0.5, 0.0] (in units of one grid step)")
    batch, tol, seed, max_points = (k.get(key) for key in ("batch_size", "tolerance", "seed", "max_points"))
    _positive("kmesh", "batch_size", batch, where,
              "leave it out (a default follows from the model size) or give e.g. 1024")
    _positive("kmesh", "tolerance", tol, where, "e.g. tolerance = 1e-3 (relative error on chi total)")
    _three_counts("kmesh", "seed", seed, where, "e.g. seed = [8, 8, 1] (2D) or [4, 4, 4] (3D)")
    _positive("kmesh", "max_points", max_points, where, "e.g. max_points = 20000000")
    return KMeshSettings(None if size is None else tuple(size), tuple(float(x) for x in shift), batch,
                         None if tol is None else float(tol), None if seed is None else tuple(seed),
                         max_points)


def _phonon(ph: dict, where: str) -> PhononSettings:
    if "species" in ph and "mass_amu" in ph:
        raise ConfigError("give either species or mass_amu in [phonon], not both", path=where,
                          fix="remove one of them")
    if ph.get("adiabatic_cutoff") and "phonon_energy_meV" not in ph:
        raise ConfigError("adiabatic_cutoff needs phonon_energy_meV", path=where,
                          fix="add phonon_energy_meV = <phonon energy> to [phonon]")
    valence = ph.get("valence")
    if isinstance(valence, dict):
        for label, v in valence.items():
            if isinstance(v, bool) or not isinstance(v, _NUMBER):
                raise ConfigError(f"[phonon] valence.{label} = {v!r} must be a number", path=where,
                                  fix="e.g. valence = { B = 3, N = 5 }")
        valence = {k: float(v) for k, v in valence.items()}
    elif valence is not None:
        valence = float(valence)
    for key in ("mass_amu", "mode_weight"):
        _positive("phonon", key, ph.get(key), where, f"give a positive {key} or leave it out")
    floats = {k: float(ph[k]) for k in ("mass_amu", "mode_weight", "phonon_energy_meV") if k in ph}
    return PhononSettings(**{**ph, **floats, "valence": valence})


def _run(r: dict, where: str) -> RunSettings:
    interval = r.get("checkpoint_interval_s", 120.0)
    if not interval >= 0:
        raise ConfigError(f"[run] checkpoint_interval_s = {interval} must not be negative", path=where,
                          fix="give seconds between checkpoints, e.g. 120 (0: after every batch)")
    device = r.get("device", "numpy")
    if device not in ("numpy", "gpu", "cuda", "cpu"):
        raise ConfigError(f"[run] device = {device!r} is not known", path=where,
                          fix='use "numpy" (default), "gpu" (PyTorch on CUDA) or "cpu" (PyTorch on the CPU)')
    return RunSettings(float(interval), device)

