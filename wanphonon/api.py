"""Python API: one call from a configuration to a :class:`~wanphonon.results.Result`.

    import wanphonon
    result = wanphonon.run({"model": {"name": "graphene_dirac", "delta": 0.3,
                                      "zeta": 0.5, "v": 1.0}})
    result.chi["topological"]

``run`` accepts a path to a TOML file, a dictionary of the same shape, or a
:class:`~wanphonon.config.Config`.  With ``out_dir`` it writes ``result.json``
and ``summary.txt`` (and, on request, k-resolved data) exactly like the command
line.  The pipeline: settings (:mod:`.config`) -> a builder (:mod:`.systems.builtin`
or :mod:`.frozen_phonon.builder`) -> :func:`setup` (occupation, spin, the physical
setting, a gap pre-scan) -> the engine (:mod:`.engine.integrate`) -> :mod:`.results`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import __version__
from .config import Config, from_dict, load
from .engine.adaptive import (AdaptiveGrid, AdaptiveIntegrals, LevelCheckpoint, adaptive_grid,
                              integrate_adaptive)
from .engine.checkpoint import Checkpoint
from .engine.device import on_device, torch_device
from .engine.grids import SlicedPolarGrid
from .engine.integrate import Integrals, Occupation, integrate
from .engine.kresolved import KResolvedRecorder
from .engine.parallel import SerialComm
from .engine.prescan import gap_prescan
from .errors import ConfigError, WanphononError
from .frozen_phonon.gauge import gauge_uncertainty
from .results import PhysicalSetting, Result, build_result, convergence_section, kz_resolved
from .systems.base import Setup
from .units import species_mass

log = logging.getLogger("wanphonon")


@dataclass
class Calculation:
    """A configured calculation: the built system and grid, the occupation and the physical setting."""

    config: Config
    setup: Setup
    occupation: Occupation
    setting: PhysicalSetting
    prescan: dict[str, Any]

    @property
    def system(self):
        return self.setup.system

    @property
    def grid(self):
        return self.setup.grid

    @property
    def warnings(self) -> list[str]:
        return self.setup.warnings

    @property
    def n_occ(self) -> int:
        """Occupied bands (per spin species when the spin degeneracy is 2), from the pre-scan."""
        return self.prescan["occupied_bands"]

    def fingerprint(self) -> str:
        """Hash of everything that determines the per-batch sums (for checkpoints).

        ``[run]`` and ``[output]`` change how a run is carried out, not its numbers, so
        they may be changed before ``--resume``.
        """
        blob = json.dumps({"config": self.config.physics(), "inputs": self.setup.inputs,
                           "grid": self.grid.describe(), "version": __version__},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def as_config(config: str | os.PathLike | dict | Config) -> Config:
    """A :class:`Config` from a path, a dictionary or a Config (parsed once)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return from_dict(config)
    return load(os.fspath(config))


def build(cfg: Config) -> Setup:
    """The builder's :class:`Setup` for ``cfg`` (built-in model or Wannier90 runs)."""
    if cfg.is_builtin_model:
        from .systems.builtin import build as build_builtin
        return build_builtin(cfg)
    from .frozen_phonon.builder import build as build_frozen_phonon
    return build_frozen_phonon(cfg)


def setup(config: str | os.PathLike | dict | Config) -> Calculation:
    """Read the inputs, build system and grid, settle occupation and spin, pre-scan the gap.

    Everything ``run`` checks before integrating happens here (``wanphonon check``
    calls it too): a configuration that passes will not be refused mid-run for
    the occupation, the spin degeneracy or a closed gap found on the coarse pre-scan.
    """
    cfg = as_config(config)
    s = build(cfg)
    if cfg.kmesh.tolerance is not None:        # adaptive integration (engine/adaptive.py)
        s.grid = adaptive_grid(cfg.kmesh, s.grid, cfg.path)
    el, ph = cfg.electrons, cfg.phonon
    n_occ, fermi = el.occupied_bands, el.fermi_energy
    if n_occ is None and fermi is None:
        n_occ = s.occupied_bands
        if n_occ is None:
            raise ConfigError("the occupation is not given", path=cfg.path,
                              fix="add occupied_bands = <n> (or fermi_energy = <eV>) to [electrons]")
    if n_occ is not None and n_occ >= s.system.num_bands:
        raise ConfigError(f"occupied_bands = {n_occ} but the model has only {s.system.num_bands} bands",
                          path=cfg.path,
                          fix=f"occupied_bands must be between 1 and {s.system.num_bands - 1}: the "
                              "model must contain empty bands above the gap")
    spin, spin_source = _spin_degeneracy(cfg, s)
    occupation = Occupation(n_occ, fermi, el.gap_tolerance, ph.phonon_energy, ph.adiabatic_cutoff)
    prescan = gap_prescan(s, occupation)
    pattern = s.pattern
    mass = species_mass(ph.species) if ph.species is not None else ph.mass_amu
    weight = ph.mode_weight
    if weight is None and pattern is not None:
        weight = pattern.mode_weight()
    valences = dict(pattern.valences) if pattern is not None else (
        {} if ph.valence is None or isinstance(ph.valence, dict) else {ph.representative: ph.valence})
    _check_electron_count(cfg, s, spin, prescan["occupied_bands"], valences)
    if ph.mode_weight is not None and ph.mode_weight < 1 and (pattern is None or len(pattern.labels) == 1):
        s.warnings.append(
            f"[phonon] mode_weight = {ph.mode_weight:g} < 1 says that other ions move in the mode, but "
            "only the representative ion's runs are given: the moment (electrons and bare ions) is that "
            "of the representative ion's motion alone, not the whole mode's; give the other ions' runs "
            "and [phonon] pattern for the mode's moment")
    setting = PhysicalSetting(
        dimension=s.dimension, spin_degeneracy=spin, cell_measure=s.cell_measure,
        mass_amu=mass, species=ph.species, valence=valences.get(ph.representative),
        mode_weight=float(1.0 if weight is None else weight), phonon_energy_meV=ph.phonon_energy_meV,
        spin_source=spin_source, valences=valences)
    for w in s.warnings:
        log.warning(w)
    log.debug("system %s: %d bands, %d occupied, spin degeneracy %d (%s)", s.system.name,
              s.system.num_bands, prescan["occupied_bands"], spin, spin_source)
    log.debug("grid: %s", s.grid.describe())
    log.debug("gap pre-scan: %s", prescan)
    log.debug("physical setting: %s", setting)
    return Calculation(cfg, s, occupation, setting, prescan)


def _spin_degeneracy(cfg: Config, s: Setup) -> tuple[int, str]:
    """The spin degeneracy: the configuration's, checked against what the input says."""
    given = cfg.electrons.spin_degeneracy
    if given is None:
        if s.spin_degeneracy is None:
            raise ConfigError(
                "the spin degeneracy cannot be read from the input (no .win beside the "
                "equilibrium run)", path=cfg.path,
                fix="add spin_degeneracy = 2 to [electrons] for spinless Wannier functions of a "
                    "spin-degenerate crystal (no spin-orbit), or 1 for spinor Wannier functions")
        log.info("spin degeneracy %d from %s", s.spin_degeneracy, s.spin_source)
        return s.spin_degeneracy, s.spin_source
    if s.spin_degeneracy == 1 and given == 2:
        raise ConfigError(
            "[electrons] spin_degeneracy = 2 contradicts the input: " + s.spin_source, path=cfg.path,
            fix="spinor Wannier functions already carry both spins: remove spin_degeneracy "
                "(or set it to 1)")
    if s.spin_degeneracy == 2 and given == 1:
        s.warnings.append(f"[electrons] spin_degeneracy = 1 although {s.spin_source}: right only "
                          "for one channel of a spin-polarised calculation; a spin-degenerate "
                          "crystal needs 2 (chi and Z* are halved otherwise)")
    return given, "[electrons] spin_degeneracy" + (f" ({s.spin_source})" if s.spin_source else "")


def _check_electron_count(cfg: Config, s: Setup, spin: int, n_occ: int, valences: dict) -> None:
    """With a valence for every atom of the cell, the occupied Wannier bands must hold them all.

    The valences here are the charges the Wannier model sees (pseudopotential
    valence minus electrons in bands below the model); their sum is the number
    of electrons in the occupied Wannier bands, ``g_s n_occ``.  A mismatch means a
    wrong spin degeneracy, occupation or valence, and Born charges that break
    the acoustic sum rule.
    """
    if not s.species or not valences:
        return
    def valence_of(label):
        return valences.get(label, valences.get(label.rstrip("0123456789")))
    per_atom = [valence_of(a) for a in s.species]
    if any(v is None for v in per_atom):
        return
    electrons = sum(per_atom)
    if abs(electrons - spin * n_occ) > 1e-6:
        raise ConfigError(
            f"the valences {valences} of the atoms {s.species} add up to {electrons:g} electrons "
            f"per cell, but {n_occ} occupied Wannier bands x spin degeneracy {spin} hold "
            f"{spin * n_occ}", path=cfg.path,
            fix="check [electrons] spin_degeneracy (2 for spinless Wannier functions) and the "
                "occupation; a valence must count only the electrons the Wannier model holds "
                "(pseudopotential valence minus the semicore electrons in bands below the model)")


def compute(calc: Calculation, *, comm=None, checkpoint_dir: str | None = None,
            progress: bool = False, k_resolved=None, device: str | None = None) -> Integrals | None:
    """Integrate a set-up calculation (on rank 0 returns the integrals, else None).

    ``device`` (``"numpy"``, ``"gpu"``, ``"cpu"``; default ``[run] device``): where the
    per-batch work runs (:mod:`wanphonon.engine.device`).  Adaptive grids
    (``[kmesh] tolerance``) go to :func:`wanphonon.engine.adaptive.integrate_adaptive`.
    """
    comm = comm or SerialComm()
    system = on_device(calc.system, torch_device(device or calc.config.run.device, calc.config.path))
    if isinstance(calc.grid, AdaptiveGrid):
        return integrate_adaptive(
            system, calc.grid, calc.occupation, comm=comm, progress=progress, k_resolved=k_resolved,
            checkpoint=None if checkpoint_dir is None
            else LevelCheckpoint(checkpoint_dir, calc.fingerprint()))
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = Checkpoint(checkpoint_dir, calc.fingerprint(), comm.rank,
                                calc.config.run.checkpoint_interval_s)
    return integrate(system, calc.grid, calc.occupation, comm=comm, checkpoint=checkpoint,
                     progress=progress, k_resolved=k_resolved)


def finish(calc: Calculation, integrals: Integrals, *, ranks: int = 1) -> Result:
    """Turn integrals into a :class:`Result` with provenance."""
    result = build_result(integrals, calc.setting, calc.grid.describe(),
                          calc.occupation.adiabatic_cutoff, pattern=calc.setup.pattern)
    if isinstance(integrals, AdaptiveIntegrals):
        result.convergence = convergence_section(integrals, calc.setting)
    system_info = {"name": calc.system.name,
                   "num_bands": calc.system.num_bands,
                   "occupied_bands": calc.n_occ,
                   "fermi_energy": calc.occupation.fermi_energy}
    system_info.update(calc.system.info or {})
    if "gauge" in system_info:      # the gauge alignment record is its own section
        result.gauge = system_info.pop("gauge")
    result.system = system_info
    result.warnings = list(calc.warnings)
    if isinstance(calc.grid, SlicedPolarGrid):
        result.kz_resolved = kz_resolved(integrals, calc.grid.kz, calc.grid.kz_weights,
                                         calc.setting.spin_degeneracy)
    result.provenance = {
        "wanphonon_version": __version__,
        "config_file": calc.config.path,
        "config": calc.config.raw,
        "displacements": calc.config.raw.get("displacement", []),
        "inputs_sha256": calc.setup.inputs,
        "mpi_ranks": ranks,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "host": platform.node(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return result


class AlreadyFinished(WanphononError):
    """``--resume`` found a finished result: nothing to do (the command line exits 0)."""


def _prepare_out_dir(out_dir: str, comm, *, resume: bool, overwrite: bool) -> str:
    """Create ``out_dir`` and decide what to do with what is there; returns the checkpoint folder.

    A finished result: kept (``--resume`` reports it, otherwise an error unless
    ``--overwrite``).  A checkpoint of an interrupted run: continued with
    ``--resume``, replaced with ``--overwrite``, otherwise an error (never lost silently).
    """
    result_path = os.path.join(out_dir, "result.json")
    checkpoint_dir = os.path.join(out_dir, "checkpoint")
    # rank 0 decides, every rank raises (an error on rank 0 alone leaves the others
    # waiting at the barrier forever)
    state = comm.bcast((os.path.exists(result_path), _has_checkpoint(checkpoint_dir))
                       if comm.rank == 0 else None, root=0)
    finished, interrupted = state
    if finished and resume and not overwrite:
        raise AlreadyFinished("the run is already finished: nothing to resume", path=result_path,
                              fix="read result.json, or pass --overwrite to compute it again")
    if finished and not overwrite:
        raise WanphononError("a finished result is already there", path=result_path,
                             fix="choose another --out directory, or pass --overwrite")
    if interrupted and not resume and not overwrite:
        raise WanphononError("an interrupted run left a checkpoint here", path=checkpoint_dir,
                             fix="continue it with --resume, or start again with --overwrite")
    if comm.rank == 0:
        try:
            os.makedirs(out_dir, exist_ok=True)
            probe = os.path.join(out_dir, ".wanphonon-write-test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as exc:
            raise WanphononError(f"cannot write the output directory ({exc.strerror})", path=out_dir,
                                 fix="choose a writable --out directory") from None
        if not resume and os.path.isdir(checkpoint_dir):
            shutil.rmtree(checkpoint_dir)
    comm.barrier()
    return checkpoint_dir


def _has_checkpoint(directory: str) -> bool:
    return os.path.isdir(directory) and any(f.endswith(".npz") for f in os.listdir(directory))


def run(config: str | os.PathLike | dict | Config, out_dir: str | None = None, *,
        resume: bool = False, comm=None, progress: bool = False, overwrite: bool = False,
        device: str | None = None) -> Result | None:
    """Set up, integrate and (with ``out_dir``) write ``result.json`` and ``summary.txt``.

    ``device`` overrides ``[run] device``.  Returns the :class:`Result` on rank 0
    (None on other MPI ranks).
    """
    comm = comm or SerialComm()
    calc = setup(config)
    checkpoint_dir = None
    if out_dir is not None:
        checkpoint_dir = _prepare_out_dir(out_dir, comm, resume=resume, overwrite=overwrite)
    recorder = None
    if out_dir is not None and calc.config.output.k_resolved:
        recorder = KResolvedRecorder(os.path.join(out_dir, "k_resolved"), comm.rank)
    integrals = compute(calc, comm=comm, checkpoint_dir=checkpoint_dir, progress=progress,
                        k_resolved=recorder, device=device)
    if recorder is not None:
        recorder.save()
    try:
        gauge_uncertainty(calc, integrals, comm)   # chi with and without an ambiguous alignment step
    except WanphononError:      # refused: leave nothing behind (a changed limit cannot resume)
        if checkpoint_dir is not None and comm.rank == 0:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        raise
    if comm.rank != 0:
        return None
    result = finish(calc, integrals, ranks=comm.size)
    if recorder is not None:
        result.k_resolved = {
            "directory": os.path.join(out_dir, "k_resolved"), "files": "rank<r>.npz",
            "complete": not resume,
            "note": "per-k integrands per spin; sum(weight * x) over all files is the grid integral"
                    + ("" if not resume else "; batches done before the restart are missing")}
    if out_dir is not None and isinstance(integrals, AdaptiveIntegrals):   # the cells, for plots
        np.savez(os.path.join(out_dir, "adaptive_cells.npz"), centres=integrals.centres, half=integrals.half)
    if out_dir is not None:
        result.write_summary(os.path.join(out_dir, "summary.txt"))
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
    integrals = integrate(system, grid, Occupation(occupied_bands, fermi_energy), comm=comm or SerialComm())
    if integrals is None:
        return None
    result = build_result(integrals, setting, grid.describe(), False)
    result.system = {"name": getattr(system, "name", type(system).__name__),
                     "num_bands": system.num_bands, "occupied_bands": occupied_bands,
                     "fermi_energy": fermi_energy}
    result.provenance = {"wanphonon_version": __version__, "python": sys.version.split()[0],
                         "numpy": np.__version__}
    return result
