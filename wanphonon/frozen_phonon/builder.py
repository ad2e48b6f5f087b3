"""From Wannier90 runs (equilibrium + displaced) to a tight-binding system with dH/du(R).

Steps, each in its own module:

1. read every run (:func:`wanphonon.io.seed.read_seed`), check that the runs
   belong together (same lattice and number of Wannier functions, same Wannier90
   settings, atoms moved as declared: :mod:`wanphonon.frozen_phonon.consistency`);
2. align the gauge of every displaced run to the equilibrium run
   (:func:`wanphonon.frozen_phonon.gauge.align`);
3. dH/du(R) and d tau/du (Wannier-centre motion) by the finite-difference
   stencil of the displacement amplitudes (:mod:`wanphonon.frozen_phonon.displacement`), on
   the union of the R vectors of all runs;
4. the minimal-replica (``use_ws_distance``) placement of the equilibrium run is
   applied to H(R) and dH/du(R) alike, so that a hopping is never counted at
   one image in one run and at another in the next.

``[wannier] positions``: ``"wannier"`` (default) takes the Wannier centres of
each run: the response carries both the change of the hoppings (dH/du(R), in
the basis that moves with the ions) and the motion of the centres (d tau/du,
which enters the Berry connection through the position operator, see
:mod:`wanphonon.systems.tight_binding`); ``"fixed"`` keeps the equilibrium
centres (u is a pure parameter of the Hamiltonian, as for model Hamiltonians).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from ..config import Config
from ..engine.grids import UniformGrid
from ..errors import ConfigError, ModelMismatchError
from ..io.rvectors import r_keys
from ..io.seed import WannierRun, read_seed
from ..io.win import fortran_bool
from ..io.wsvec import apply_ws_shifts
from ..results import CHI_KEYS
from ..systems.base import Setup
from ..systems.tight_binding import TightBinding
from .consistency import check_displacement, check_settings
from .displacement import stencil
from .gauge import (MAX_GAUGE_UNCERTAINTY, MAX_RESIDUAL_PER_A, RealSpaceModel, align, on_common_r,
                    removed_component)
from .mode import MODE_RUN, pattern_from_config

log = logging.getLogger("wanphonon")

#: Largest difference (A) between the lattice vectors of two runs that are to be combined.
LATTICE_TOLERANCE_A = 1e-4


#: Memory (bytes) that the per-batch arrays of one rank may take, roughly.
BATCH_MEMORY_BYTES = 400e6


def default_batch_size(num_wann: int) -> int:
    """k-points per batch so that the per-batch arrays stay near :data:`BATCH_MEMORY_BYTES`.

    A batch holds about 40 complex ``N x N`` matrices per k-point (H and its nine
    derivatives, their Fourier stack, eigenvectors and the projector-chain blocks).
    """
    per_k = 40 * 16 * num_wann ** 2
    return int(max(64, min(4096, BATCH_MEMORY_BYTES // per_k)))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_same_model(eq: WannierRun, run: WannierRun) -> None:
    n_eq, n = eq.H_R.shape[-1], run.H_R.shape[-1]
    if n != n_eq:
        raise ModelMismatchError(
            f"run '{run.seedname}' has {n} Wannier functions, the equilibrium run '{eq.seedname}' "
            f"has {n_eq}", path=run.files.get("hr") or run.files.get("tb"),
            fix="Wannierise every run with the same num_wann and projections")
    diff = float(np.max(np.abs(run.lattice - eq.lattice)))
    if diff > LATTICE_TOLERANCE_A:
        raise ModelMismatchError(
            f"the lattice of run '{run.seedname}' differs from that of '{eq.seedname}' by up to "
            f"{diff:.3g} A", path=run.files.get("tb") or run.files.get("win"),
            fix="displace the ion, not the cell: every run must use the equilibrium lattice vectors")


def _run_model(run: WannierRun, positions: str) -> RealSpaceModel:
    if run.centres is None and positions == "wannier":
        raise ConfigError(
            f"run '{run.seedname}' has no Wannier centres (no _centres.xyz, no _tb.dat)",
            path=run.files.get("hr"),
            fix="set write_xyz = true (or write_tb = true) in the .win and rerun Wannier90, or set "
                "[wannier] positions = \"fixed\" if u is a pure model parameter")
    return RealSpaceModel(run.R, run.H_R, run.centres)


def _place_images(eq: WannierRun, R: np.ndarray, stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the equilibrium run's minimal-replica shifts to ``stack`` ``(nR, N, N, k)``."""
    if eq.wsvec is None:
        return R, stack
    key_eq, key = r_keys(eq.R, R)
    sort = np.argsort(key_eq)
    pos = np.minimum(np.searchsorted(key_eq[sort], key), len(key_eq) - 1)
    in_eq = key_eq[sort][pos] == key                                   # R also in the eq. run's list
    on_eq = np.zeros((len(eq.R),) + stack.shape[1:], dtype=complex)
    on_eq[sort[pos[in_eq]]] = stack[in_eq]
    R_ws, placed = apply_ws_shifts(eq.R, on_eq, eq.wsvec)
    if in_eq.all():
        return R_ws, placed
    # R vectors that only displaced runs have (after lattice translations of WFs) stay put
    R_all, (a, b) = on_common_r([RealSpaceModel(R_ws, placed, None),
                                 RealSpaceModel(R[~in_eq], stack[~in_eq], None)])
    return R_all, a + b


def _aligned_runs(eq_model: RealSpaceModel, lattice: np.ndarray, runs, us, positions: str,
                  max_change: float, spinors: bool):
    """The runs of one ion in the equilibrium gauge, and the alignment reports."""
    aligned, reports = [], []
    for run, u in zip(runs, us):
        model, report = align(eq_model, _run_model(run, positions), lattice, u, run.seedname,
                              max_change, spinors)
        aligned.append(model)
        reports.append(report)
        for note in report.notes:
            loud = report.unitary_applied or "cannot be told" in note
            (log.warning if loud else log.info)("%s: %s", run.seedname, note)
    return aligned, reports


def spin_from_win(eq: WannierRun) -> tuple[int | None, str]:
    """Spin degeneracy implied by the equilibrium ``.win`` (``spinors``) and where it came from."""
    if eq.win is None:
        return None, ""
    spinors = fortran_bool(eq.win.settings.get("spinors", "false"))
    if spinors is None:
        raise ConfigError(f"spinors = {eq.win.settings['spinors']!r} is not a logical",
                          path=eq.win.path, line=eq.win.line_of.get("spinors"),
                          fix="write spinors = true or spinors = false")
    if spinors:
        return 1, f"{eq.win.path}: spinors = true (spin-orbit Wannier functions)"
    return 2, f"{eq.win.path}: no spinors (one spin species; the other is its copy)"


def _spinors(eq: WannierRun) -> bool:
    return eq.win is not None and bool(fortran_bool(eq.win.settings.get("spinors", "false")))


def build(cfg: Config) -> Setup:
    """The :class:`Setup` of a ``[wannier]`` configuration.

    The system carries the derivative along the phonon mode and, when the mode
    moves several ions with runs per ion, each ion's own derivative as an extra
    channel (``ion_labels``), whose Born charges the engine evaluates in the same pass.
    """
    w, phonon, source = cfg.wannier, cfg.phonon, cfg.source
    positions = w.positions
    rep = phonon.representative
    labels = [d.ion or rep for d in cfg.displacements]
    pattern = pattern_from_config(phonon, set(labels), source)
    groups = [MODE_RUN] if MODE_RUN in labels else pattern.labels
    members = {k: [i for i, lab in enumerate(labels) if lab == k] for k in groups}
    us = {k: np.array([cfg.displacements[i].u for i in idx], dtype=float) for k, idx in members.items()}
    stencils = {k: stencil(us[k], source=f"{source} (ion {k})") for k in groups}
    eq = read_seed(cfg.resolve(w.seedname))
    runs = [read_seed(cfg.resolve(d.seedname)) for d in cfg.displacements]
    warnings = []
    for run, label, d in zip(runs, labels, cfg.displacements):
        _check_same_model(eq, run)
        if eq.win is not None and run.win is not None:
            check_settings(eq.win, run.win)
            u = np.asarray(d.u, dtype=float)
            check_displacement(eq.win, run.win, pattern.moves(u) if label == MODE_RUN else {label: u})
    no_win = [r.seedname for r in (eq, *runs) if r.win is None]
    if no_win:
        warnings.append(f"no .win for run(s) {', '.join(no_win)}: the displacements u declared in "
                        "the configuration cannot be checked against the atoms, and the Wannier90 "
                        "settings of the runs not compared; keep the .win files beside the outputs")
    no_ws = [r.seedname for r in (eq, *runs) if r.wsvec is None]
    if no_ws:
        warnings.append(f"no _wsvec.dat for run(s) {', '.join(no_ws)}: hoppings are taken at the R "
                        "listed in _hr/_tb.dat without Wannier90's minimal-image placement "
                        "(use_ws_distance), which changes results in the 4th-5th digit; copy the "
                        "_wsvec.dat files")
    eq_model = _run_model(eq, positions)
    centres = eq_model.centres if eq_model.centres is not None else np.zeros((eq.num_wann, 3))

    per_ion, reports = {}, []
    max_change = w.max_change_per_A or MAX_RESIDUAL_PER_A
    for label, idx in members.items():
        aligned, rep_reports = _aligned_runs(eq_model, eq.lattice, [runs[i] for i in idx], us[label],
                                             positions, max_change, _spinors(eq))
        per_ion[label] = (stencils[label], aligned, rep_reports)
        reports += rep_reports
    rotated_runs = [r.seedname for r in reports if r.unitary_applied]
    if rotated_runs:
        warnings.append(f"a gauge rotation was applied to run(s) {', '.join(rotated_runs)} (their "
                        "Wannier functions were mixed differently from the equilibrium run): it can "
                        "also remove part of the genuine dH/du; the chi uncertainty this causes is in "
                        "the 'gauge' section; Wannierise the runs with identical projections and "
                        "iteration counts (docs/gauge.md)")
    every = [m for _, aligned, _ in per_ion.values() for m in aligned]
    R, (h_eq, *h_all) = on_common_r([eq_model, *every])
    d_h, d_tau, errors, removed, start = {}, {}, {}, {}, 0
    for label, (fd, aligned, rep_reports) in per_ion.items():
        diffs = np.array(h_all[start:start + len(aligned)]) - h_eq[None]
        start += len(aligned)
        d_h[label] = fd.apply(diffs)                                       # (2, nR, N, N)
        errors[label] = fd.error_estimate(diffs)
        d_tau[label] = (fd.apply(np.array([m.centres for m in aligned]) - centres[None])
                        if positions == "wannier" else np.zeros((2,) + centres.shape))
        removed[label] = removed_component(h_eq, d_h[label], fd.apply, rep_reports)
    ion_labels = tuple(groups) if len(d_h) > 1 else ()
    channels = [pattern.combine(d_h)] + [d_h[k] for k in ion_labels]
    rotated = bool(rotated_runs)
    if rotated:     # the removed rotation-like component, as one more channel
        channels.append(pattern.combine({k: np.zeros_like(d_h[k]) if c is None else c
                                         for k, (c, _) in removed.items()}))
    stack = np.concatenate([h_eq[..., None]] + [np.moveaxis(c, 0, -1) for c in channels], axis=-1)
    R, stack = _place_images(eq, R, stack)
    H_R = stack[..., 0]
    dH = [np.moveaxis(stack[..., 1 + 2 * i:3 + 2 * i], -1, 0) for i in range(len(channels))]
    delta = dH.pop() if rotated else None

    size = cfg.kmesh.size
    if size[2] == 1 and np.any(R[:, 2] != 0):
        warnings.append("the k-mesh is two-dimensional but H(R) has hoppings along a3: the kz = 0 "
                        "plane is integrated (per area)")
    batch = cfg.kmesh.batch_size or default_batch_size(H_R.shape[-1])
    grid = UniformGrid(eq.lattice, size, cfg.kmesh.shift, batch_size=batch)

    dcentres = pattern.combine(d_tau)
    gauge = {"exact": not rotated,
             "runs": {r.seedname: r.describe() for r in reports},
             "rotated_runs": [r.seedname for r in reports if r.unitary_applied],
             "removed_component": {k: c for k, (_, c) in removed.items() if c},
             "max_change_per_A": max_change,
             "max_gauge_uncertainty": w.max_gauge_uncertainty or MAX_GAUGE_UNCERTAINTY,
             "chi_uncertainty": None if rotated else {k: 0.0 for k in CHI_KEYS}}
    info = {"wannier_functions": int(H_R.shape[-1]), "r_vectors": int(len(R)),
            "positions": positions,
            "stencil": {k: fd.describe() for k, (fd, _, _) in per_ion.items()},
            "dH_du_error": errors,
            "dH_du_norm_eV_per_A": float(np.linalg.norm(dH[0])),
            "alignment": gauge["runs"],
            "gauge": gauge,
            "centre_motion": dcentres.tolist()}
    system = TightBinding(eq.lattice, R, H_R, dH[0], centres, dcentres, name=eq.seedname, info=info,
                          ion_labels=ion_labels,
                          ion_dH_R=np.array(dH[1:]) if ion_labels else None,
                          ion_dcentres=np.array([d_tau[k] for k in ion_labels]) if ion_labels else None)
    # dH/du plus and minus the removed component: gauge.gauge_uncertainty integrates them
    variants = [TightBinding(eq.lattice, R, H_R, dH[0] + s * delta, centres, dcentres, name=eq.seedname)
                for s in (1, -1)] if rotated else []
    inputs = {path: _sha256(path) for run in (eq, *runs) for path in run.files.values()}
    spin, spin_source = spin_from_win(eq)
    return Setup(system, grid, grid.dimension, grid.cell_measure, lattice=eq.lattice,
                 spin_degeneracy=spin, spin_source=spin_source, species=list(eq.atoms_symbols),
                 pattern=pattern, inputs=inputs, warnings=warnings, gauge_variants=variants)
