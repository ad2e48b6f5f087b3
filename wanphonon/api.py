"""Python API: one call from a configuration to a :class:`~wanphonon.results.Result`.

    import wanphonon
    result = wanphonon.run({"model": {"name": "graphene_dirac", "delta": 0.3,
                                      "zeta": 0.5, "v": 1.0}})
    result.chi["topological"]

``run`` accepts a path to a TOML file, a dictionary of the same shape, or a
:class:`~wanphonon.config.Config`.  With ``out_dir`` it writes ``result.json``
(and, on request, k-resolved data and plots) exactly like the command line.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .config import Config, from_dict, load
from .engine.adaptive import (AdaptiveGrid, AdaptiveIntegrals, LevelCheckpoint, adaptive_grid,
                              integrate_adaptive)
from .engine.checkpoint import Checkpoint
from .engine.device import on_device, torch_device
from .engine.integrate import Integrals, integrate
from .engine.kresolved import KResolvedRecorder
from .engine.parallel import SerialComm
from .errors import ConfigError, WanphononError
from .geometry.bands import DEFAULT_GAP_TOLERANCE
from .frozen_phonon.mode import PhononPattern
from .results import PhysicalSetting, Result, build_result, convergence_section, kz_resolved
from .systems.builtin import builtin_system
from .units import magneton_ratios, species_mass


@dataclass
class Calculation:
    """A configured calculation: the system, its grid and the physical setting."""

    config: Config
    system: Any
    grid: Any
    setting: PhysicalSetting
    n_occ: int | None
    fermi_energy: float | None
    gap_tolerance: float
    cutoff: bool
    inputs: dict[str, str]
    pattern: PhononPattern | None = None
    ion_systems: dict[str, Any] = field(default_factory=dict)

    @property
    def phonon_energy(self) -> float | None:
        e = self.setting.phonon_energy_meV
        return None if e is None else 1e-3 * e

    def fingerprint(self) -> str:
        """Hash of everything that determines the per-batch sums (for checkpoints).

        ``[run]`` and ``[output]`` change how a run is carried out, not its numbers, so
        they may be changed before ``--resume``.
        """
        physics = {k: v for k, v in self.config.tables.items() if k not in ("run", "output")}
        blob = json.dumps({"config": physics, "displacements": self.config.displacements,
                           "inputs": self.inputs, "grid": self.grid.describe(),
                           "version": __version__}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def as_config(config: str | os.PathLike | dict | Config) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return from_dict(config)
    return load(os.fspath(config))


def prepare(config: str | os.PathLike | dict | Config) -> Calculation:
    """Read inputs and set up system and grid, without integrating."""
    cfg = as_config(config)
    el = cfg.tables.get("electrons", {})
    ph = cfg.tables.get("phonon", {})
    e_ph = ph.get("phonon_energy_meV")
    cutoff = bool(ph.get("adiabatic_cutoff", False))
    if cfg.is_builtin_model:
        system, grid, dim, cell = builtin_system(cfg, None if e_ph is None else 1e-3 * e_ph, cutoff)
        inputs: dict[str, str] = {}
        pattern, ion_systems = None, {}
    else:
        from .frozen_phonon.builder import wannier_system
        system, grid, inputs, pattern, ion_systems = wannier_system(cfg)
        dim, cell = grid.dimension, grid.cell_measure
    if cfg.get("kmesh", "tolerance") is not None:      # adaptive integration (engine/adaptive.py)
        grid = adaptive_grid(cfg.tables["kmesh"], grid, cfg.path)
    n_occ = el.get("occupied_bands")
    fermi = el.get("fermi_energy")
    if n_occ is None and fermi is None:
        n_occ = getattr(system, "n_occ", None)
        if n_occ is None:
            raise ConfigError("the occupation is not given", path=cfg.path,
                              fix="add occupied_bands = <n> (or fermi_energy = <eV>) to [electrons]")
    if n_occ is not None and n_occ >= system.num_bands:
        raise ConfigError(f"occupied_bands = {n_occ} but the model has only {system.num_bands} bands",
                          path=cfg.path,
                          fix=f"occupied_bands must be between 1 and {system.num_bands - 1}: the "
                              "model must contain empty bands above the gap")
    mass = ph.get("mass_amu")
    species = ph.get("species")
    if species is not None:
        mass = species_mass(species)
    weight = ph.get("mode_weight")
    if weight is None and pattern is not None:
        weight = pattern.mode_weight()
    valence = ph.get("valence")
    if isinstance(valence, dict):
        valence = None if pattern is None else pattern.valences.get(pattern.representative)
    setting = PhysicalSetting(
        dimension=dim,
        spin_degeneracy=int(el.get("spin_degeneracy", getattr(system, "default_spin_degeneracy", 1))),
        cell_measure=cell, mass_amu=None if mass is None else float(mass), species=species,
        valence=valence, mode_weight=float(1.0 if weight is None else weight),
        phonon_energy_meV=e_ph)
    return Calculation(cfg, system, grid, setting, n_occ, fermi,
                       float(el.get("gap_tolerance", DEFAULT_GAP_TOLERANCE)), cutoff, inputs,
                       pattern, ion_systems)


def compute(calc: Calculation, *, comm=None, checkpoint_dir: str | None = None,
            progress: bool = False, k_resolved=None, device: str | None = None) -> Integrals | None:
    """Integrate a prepared calculation (on rank 0 returns the integrals, else None).

    ``device`` (``"numpy"``, ``"gpu"``, ``"cpu"``; default ``[run] device``): where the
    per-batch work runs (:mod:`wanphonon.engine.device`).
    """
    comm = comm or SerialComm()
    system = on_device(calc.system, _device(calc, device))
    if isinstance(calc.grid, AdaptiveGrid):
        return integrate_adaptive(
            system, calc.grid, n_occ=calc.n_occ, fermi_energy=calc.fermi_energy,
            gap_tolerance=calc.gap_tolerance, phonon_energy=calc.phonon_energy,
            adiabatic_cutoff=calc.cutoff, comm=comm, progress=progress, k_resolved=k_resolved,
            checkpoint=None if checkpoint_dir is None
            else LevelCheckpoint(checkpoint_dir, calc.fingerprint()))
    checkpoint = None
    if checkpoint_dir is not None:
        interval = float(calc.config.get("run", "checkpoint_interval_s", 120.0))
        checkpoint = Checkpoint(checkpoint_dir, calc.fingerprint(), comm.rank, interval)
    return integrate(system, calc.grid, n_occ=calc.n_occ, fermi_energy=calc.fermi_energy,
                     gap_tolerance=calc.gap_tolerance, phonon_energy=calc.phonon_energy,
                     adiabatic_cutoff=calc.cutoff, comm=comm, checkpoint=checkpoint,
                     progress=progress, k_resolved=k_resolved)


def _device(calc: Calculation, device: str | None):
    """The torch device asked for by ``device`` or ``[run] device`` (None: numpy)."""
    return torch_device(device if device is not None else calc.config.get("run", "device"),
                        calc.config.path)


def ion_born_charges(calc: Calculation, *, comm=None,
                     device: str | None = None) -> dict[str, np.ndarray] | None:
    """Electronic Born charge ``(3, 2)`` of every ion of a multi-ion mode (rank 0; e per cell).

    Each ion's own displaced runs give its own dH/du; its Born charge is the
    integral of ``Tr Omega_{k_i u_j}`` for that derivative (the other integrands
    of that pass are not used).
    """
    out = {}
    engine = integrate_adaptive if isinstance(calc.grid, AdaptiveGrid) else integrate
    for label, system in calc.ion_systems.items():
        res = engine(on_device(system, _device(calc, device)), calc.grid, n_occ=calc.n_occ,
                     fermi_energy=calc.fermi_energy, gap_tolerance=calc.gap_tolerance,
                     comm=comm or SerialComm())
        if res is not None:
            out[label] = calc.setting.spin_degeneracy * calc.setting.cell_measure * res.born_charge
    return out or None


def _mode_report(calc: Calculation, charges: dict[str, np.ndarray], result: Result) -> None:
    """Per-ion Born charges, the mode's total charge and the point-charge moment estimate."""
    pattern = calc.pattern
    totals = {k: z + pattern.valences[k] * np.eye(3, 2) for k, z in charges.items() if k in pattern.valences}
    result.extra["born_charge_per_ion"] = {
        k: {"electronic": z.tolist(), **({"total": totals[k].tolist()} if k in totals else {})}
        for k, z in charges.items()}
    result.extra["phonon_pattern"] = {k: c.tolist() for k, c in pattern.matrices.items()}
    if len(totals) < len(charges):
        return
    # dipole per unit u of the whole mode: sum_kappa Z*_kappa C_kappa
    result.born_charge_total = sum(totals[k] @ c for k, c in pattern.matrices.items()).tolist()
    if result.moment is not None:
        pc = pattern.point_charge_moment({k: z[:2] for k, z in totals.items()}, calc.setting.mode_weight)
        ratios = magneton_ratios(calc.setting.mass_amu) if calc.setting.mass_amu else {}
        result.moment["point_charge_estimate"] = {"ionic_magneton": pc,
                                                  **{u: pc * r for u, r in ratios.items()}}


def finish(calc: Calculation, integrals: Integrals, *, ranks: int = 1,
           charges: dict[str, np.ndarray] | None = None) -> Result:
    """Turn integrals into a :class:`Result` with provenance."""
    result = build_result(integrals, calc.setting, calc.grid.describe(), calc.cutoff)
    if isinstance(integrals, AdaptiveIntegrals):
        result.extra["convergence"] = convergence_section(integrals, calc.setting)
    if charges:
        _mode_report(calc, charges, result)
    system_info = {"name": getattr(calc.system, "name", type(calc.system).__name__),
                   "num_bands": calc.system.num_bands,
                   "occupied_bands": calc.n_occ, "fermi_energy": calc.fermi_energy}
    system_info.update(getattr(calc.system, "info", {}) or {})
    result.extra["system"] = system_info
    if hasattr(calc.grid, "kz_weights"):
        result.extra["kz_resolved"] = kz_resolved(integrals.rows, calc.grid.kz, calc.grid.kz_weights,
                                                  calc.setting.spin_degeneracy)
    result.provenance = {
        "wanphonon_version": __version__,
        "config_file": calc.config.path,
        "config": calc.config.tables,
        "displacements": calc.config.displacements,
        "inputs_sha256": calc.inputs,
        "mpi_ranks": ranks,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "host": platform.node(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return result


def run(config: str | os.PathLike | dict | Config, out_dir: str | None = None, *,
        resume: bool = False, comm=None, progress: bool = False, overwrite: bool = False,
        device: str | None = None) -> Result | None:
    """Prepare, integrate and (with ``out_dir``) write ``result.json``.

    ``device`` overrides ``[run] device``.  Returns the :class:`Result` on rank 0
    (None on other MPI ranks).
    """
    comm = comm or SerialComm()
    calc = prepare(config)
    checkpoint_dir = None
    if out_dir is not None:
        result_path = os.path.join(out_dir, "result.json")
        # rank 0 decides, every rank raises (an error on rank 0 alone leaves the others
        # waiting at the barrier forever); --resume never replaces a finished result
        finished = comm.bcast(os.path.exists(result_path) if comm.rank == 0 else None, root=0)
        if finished and not overwrite:
            raise WanphononError(
                "a finished result is already there" + (": nothing to resume" if resume else ""),
                path=result_path, fix="choose another --out directory, or pass --overwrite")
        if comm.rank == 0:
            os.makedirs(out_dir, exist_ok=True)
        comm.barrier()
        checkpoint_dir = os.path.join(out_dir, "checkpoint")
        if not resume and comm.rank == 0 and os.path.isdir(checkpoint_dir):
            for f in os.listdir(checkpoint_dir):
                os.remove(os.path.join(checkpoint_dir, f))
        comm.barrier()
    recorder = None
    if out_dir is not None and calc.config.get("output", "k_resolved", False):
        recorder = KResolvedRecorder(os.path.join(out_dir, "k_resolved"), comm.rank)
    integrals = compute(calc, comm=comm, checkpoint_dir=checkpoint_dir, progress=progress,
                        k_resolved=recorder, device=device)
    if recorder is not None:
        recorder.save()
    charges = ion_born_charges(calc, comm=comm, device=device) if calc.ion_systems else None
    if comm.rank != 0:
        return None
    result = finish(calc, integrals, ranks=comm.size, charges=charges)
    if recorder is not None:
        result.extra["k_resolved"] = {
            "directory": os.path.join(out_dir, "k_resolved"), "files": "rank<r>.npz",
            "complete": not resume,
            "note": "per-k integrands per spin; sum(weight * x) over all files is the grid integral"
                    + ("" if not resume else "; batches done before the restart are missing")}
    if out_dir is not None and isinstance(integrals, AdaptiveIntegrals):   # the cells, for plots
        np.savez(os.path.join(out_dir, "adaptive_cells.npz"), centres=integrals.centres, half=integrals.half)
    if out_dir is not None:
        result.write_json(os.path.join(out_dir, "result.json"))
        shutil.rmtree(checkpoint_dir, ignore_errors=True)   # finished: nothing left to resume
    return result


def run_system(system, grid, *, occupied_bands: int | None = None, fermi_energy: float | None = None,
               spin_degeneracy: int = 1, cell_measure: float | None = None,
               mass_amu: float | None = None, mode_weight: float = 1.0,
               valence: float | None = None, comm=None) -> Result | None:
    """Integrate a model object (``derivatives(k_cart)``, ``num_bands``) on ``grid``, without a config.

    ``cell_measure`` (A^2 or A^3) defaults to the grid's cell; with it (and
    ``mass_amu``) the moment is reported as for a configured run.  Returns the
    :class:`Result` on rank 0 (None on other MPI ranks).
    """
    if (occupied_bands is None) == (fermi_energy is None):
        raise ConfigError("give exactly one of occupied_bands and fermi_energy",
                          fix="e.g. run_system(tb, grid, occupied_bands=2)")
    cell = cell_measure if cell_measure is not None else getattr(grid, "cell_measure", None)
    setting = PhysicalSetting(dimension=grid.dimension, spin_degeneracy=spin_degeneracy,
                              cell_measure=cell, mass_amu=mass_amu, valence=valence,
                              mode_weight=mode_weight)
    integrals = integrate(system, grid, n_occ=occupied_bands, fermi_energy=fermi_energy,
                          comm=comm or SerialComm())
    if integrals is None:
        return None
    result = build_result(integrals, setting, grid.describe(), False)
    result.extra["system"] = {"name": getattr(system, "name", type(system).__name__),
                              "num_bands": system.num_bands, "occupied_bands": occupied_bands,
                              "fermi_energy": fermi_energy}
    result.provenance = {"wanphonon_version": __version__, "python": sys.version.split()[0],
                         "numpy": np.__version__}
    return result
