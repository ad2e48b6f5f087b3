"""The list of runs: equilibrium plus displaced structures, and their names and u values.

``runs = "mode"``: every ion of the pattern moves together, ion kappa by ``C_kappa u``,
with ``u = (+-delta, 0)``, ``(0, +-delta)`` (and ``+-2 delta``): ``eq, xp, xm, yp, ym
(, x2p, x2m, y2p, y2m)``; in ``wanphonon.toml`` each is ``ion = "mode"``.

``runs = "ions"``: one ion at a time, each ion kappa of the pattern by
``u = (+-delta, 0), (0, +-delta)``: ``<label>_xp`` ...; ``ion = "<label>"``; ``wanphonon
run`` combines them with the pattern (mode.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..frozen_phonon.mode import MODE_RUN
from .pattern import DisplacementPair

EQUILIBRIUM = "eq"


@dataclass
class Run:
    name: str
    ion: str | None            # None: equilibrium; MODE_RUN: the whole mode; else an ion label
    u: np.ndarray              # (2,) A, the displaced ion's (or the representative's) in-plane move
    displacement: np.ndarray   # (n, 3) Cartesian displacement of every atom (A)


def _steps(delta: float, second_order: bool):
    steps = [("xp", (delta, 0.0)), ("xm", (-delta, 0.0)), ("yp", (0.0, delta)), ("ym", (0.0, -delta))]
    if second_order:
        steps += [("x2p", (2 * delta, 0.0)), ("x2m", (-2 * delta, 0.0)),
                  ("y2p", (0.0, 2 * delta)), ("y2m", (0.0, -2 * delta))]
    return steps


def plan(pattern: DisplacementPair, kind: str, delta: float, second_order: bool) -> list[Run]:
    n = len(pattern.labels)
    runs = [Run(EQUILIBRIUM, None, np.zeros(2), np.zeros((n, 3)))]
    for name, u in _steps(delta, second_order):
        u = np.array(u)
        if kind == "mode":
            d = np.zeros((n, 3))
            d[:, :2] = np.einsum("kij,j->ki", pattern.C, u)
            runs.append(Run(name, MODE_RUN, u, d))
    if kind == "ions":
        for i in pattern.moving():
            for name, u in _steps(delta, second_order):
                d = np.zeros((n, 3))
                d[i, :2] = u
                runs.append(Run(f"{pattern.labels[i]}_{name}", pattern.labels[i], np.array(u), d))
    return runs
