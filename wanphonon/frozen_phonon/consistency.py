"""Do the equilibrium and displaced Wannier90 runs belong together?

A finite difference between Wannierisations is only meaningful when every run used
the same Wannier90 settings and the displaced structure is the equilibrium one with
the declared ion moved by the declared u.  Checked here, from the ``.win`` files
(when the runs have them):

* every setting that shapes the Wannier functions agrees (:data:`MUST_MATCH`, and
  the ``projections`` block);
* the lattice is the same (checked on the Hamiltonian files by the caller);
* in each displaced run exactly the atoms of the declared ion moved, by u (in-plane),
  within ``POSITION_TOLERANCE_A``.

A mismatch is one :class:`~wanphonon.errors.ModelMismatchError` naming the setting,
the run and the line.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelMismatchError
from ..io.win import WinFile, fortran_bool

#: .win keywords that must be equal in all runs (lower case).
MUST_MATCH = ("num_wann", "num_bands", "dis_win_min", "dis_win_max", "dis_froz_min", "dis_froz_max",
              "dis_num_iter", "num_iter", "mp_grid", "exclude_bands", "spinors", "guiding_centres",
              "use_ws_distance", "translate_home_cell", "shell_list", "skip_b1_tests", "conv_tol",
              "dis_conv_tol")
#: .win blocks that must be equal in all runs.
MUST_MATCH_BLOCKS = ("projections", "kpoints")
#: Largest deviation (A) of an atom from its declared position.
POSITION_TOLERANCE_A = 2e-4


def _norm(value: str) -> str:
    """Case, spacing and the spelling of logicals (``T``, ``.true.``) do not count."""
    truth = fortran_bool(value)
    return str(truth) if truth is not None else " ".join(value.lower().split())


def check_settings(eq: WinFile, run: WinFile) -> None:
    """The Wannier90 settings of ``run`` equal those of ``eq`` (see :data:`MUST_MATCH`)."""
    for key in MUST_MATCH:
        a, b = eq.settings.get(key), run.settings.get(key)
        if key == "num_wann":
            a, b = str(eq.num_wann), str(run.num_wann)
        if (a is None) != (b is None) or (a is not None and _norm(a) != _norm(b)):
            raise ModelMismatchError(
                f"Wannier90 setting '{key}' differs between runs: {a!r} in {eq.path}, {b!r} here",
                path=run.path, line=run.line_of.get(key),
                fix="Wannierise every run with identical settings (only the atoms may differ)")
    for name in MUST_MATCH_BLOCKS:
        a = [_norm(x) for x in eq.blocks.get(name, [])]
        b = [_norm(x) for x in run.blocks.get(name, [])]
        if a != b:
            raise ModelMismatchError(
                f"the '{name}' block differs between runs ({eq.path} and this file)",
                path=run.path, line=run.line_of.get(name),
                fix=f"use the same {name} in every run")


def check_displacement(eq: WinFile, run: WinFile, moves: dict[str, np.ndarray]) -> None:
    """In ``run`` the atoms labelled ``kappa`` moved in-plane by ``moves[kappa]`` and no other atom moved.

    Labels are atom labels of the .win (species symbols or labels such as ``B1``); when
    no atom carries a label the check is skipped (the ions are named otherwise).
    """
    if eq.positions is None or run.positions is None:
        return
    if list(eq.symbols) != list(run.symbols):
        raise ModelMismatchError(f"the atoms of this run ({run.symbols}) differ from those of "
                                 f"{eq.path} ({eq.symbols})", path=run.path,
                                 line=run.line_of.get("atoms_cart") or run.line_of.get("atoms_frac"),
                                 fix="displaced runs must contain the same atoms in the same order")
    labels = np.array([s.lower() for s in eq.symbols])
    if not any(k.lower() in labels for k in moves):
        return
    moved = run.positions - eq.positions
    target = np.zeros_like(moved)
    for ion, u in moves.items():
        share = labels == ion.lower()
        target[share, :2] = u
        if share.sum() > 1:      # several atoms share the label: those that did not move are others
            target[share & (np.linalg.norm(moved, axis=1) < POSITION_TOLERANCE_A)] = 0.0
    worst = int(np.argmax(np.linalg.norm(moved - target, axis=1)))
    err = float(np.linalg.norm(moved[worst] - target[worst]))
    if err > POSITION_TOLERANCE_A or not np.any(np.linalg.norm(moved, axis=1) > 0):
        declared = ", ".join(f"{k}: {np.round(v, 6).tolist()}" for k, v in moves.items())
        raise ModelMismatchError(
            f"atom {worst + 1} ({eq.symbols[worst]}) moved by {np.round(moved[worst], 6).tolist()} A "
            f"from its equilibrium position, but the configuration declares in-plane moves {declared} A",
            path=run.path, line=run.line_of.get("atoms_cart") or run.line_of.get("atoms_frac"),
            fix="give this run's true displacement as u (and ion, or the [phonon] pattern) in its "
                "[[displacement]] table")
