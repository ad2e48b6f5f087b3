"""The phonon mode: how the ions move with the representative ion's displacement u.

theory.md sec. 1: ``u = (u_x, u_y)`` is the displacement of one representative ion
(mass ``m_1``); every other ion kappa moves in a fixed pattern,
``u_kappa = C_kappa u`` with a real 2x2 matrix ``C_kappa`` (a number ``c`` means
``c * identity``; ``C = identity`` for the representative ion).  For the Gamma E'
optical mode of hBN with B as representative ion, ``u_N = -(m_B/m_N) u_B``.

Frozen-phonon runs either move all ions of the mode together (``[[displacement]]
ion = "mode"``, u the representative ion's displacement), or displace one ion at a
time (``ion = "N"``); the mode's derivative is then
``dX/du_b = sum_kappa sum_a dX/du_{kappa,a} C_{kappa,ab}``.

Per phonon quantum (total angular momentum hbar), the representative ion carries
``L_1 = w hbar`` with ``w = m_1 / sum_kappa m_kappa |C_kappa|_F^2 / 2``
(``|e_1|^2`` of the mass-weighted eigenvector; 1 when only the representative ion moves).

The traditional point-charge estimate of the moment, each ion a charge ``Z*_kappa``
(tensor, in-plane 2x2 block, units of e) on its orbit, is, in ionic magnetons of the
representative ion ``e hbar / 2 m_1`` and for counterclockwise motion of ion 1,

    mu_pc / mu_I = w * sum_kappa tr[(Z*_kappa C_kappa)^T eps C_kappa rot] / 2,

``eps = [[0, 1], [-1, 0]]`` (z of a cross product), ``rot = [[0, -1], [1, 0]]``
(du/dt = omega rot u); for scalar charges this is ``w sum_kappa Z_kappa c_kappa^2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import PhononSettings
from ..errors import ConfigError
from ..units import species_mass

#: ``[[displacement]] ion`` of a run in which all ions moved together as the mode prescribes.
MODE_RUN = "mode"

_EPS = np.array([[0.0, 1.0], [-1.0, 0.0]])
_ROT = np.array([[0.0, -1.0], [1.0, 0.0]])


@dataclass(frozen=True)
class PhononPattern:
    """Ion labels, their displacement matrices ``C`` (2x2) and, where known, masses and valences."""

    representative: str
    matrices: dict[str, np.ndarray]
    masses: dict[str, float] = field(default_factory=dict)
    valences: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.matrices)

    def mode_weight(self) -> float | None:
        """``w``: the representative ion's share of the mode's angular momentum (None: masses unknown)."""
        if any(label not in self.masses for label in self.matrices):
            return None
        total = sum(self.masses[k] * float(np.sum(c ** 2)) / 2 for k, c in self.matrices.items())
        return self.masses[self.representative] / total

    def moves(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """In-plane displacement ``C_kappa u`` of every ion for a representative displacement u."""
        return {k: c @ u for k, c in self.matrices.items()}

    def combine(self, per_ion: dict[str, np.ndarray]) -> np.ndarray:
        """Mode derivative ``(2, ...)`` from per-ion derivatives ``{label: (2, ...)}``
        (or from runs of the whole mode, ``{MODE_RUN: (2, ...)}``)."""
        if MODE_RUN in per_ion:
            return per_ion[MODE_RUN]
        out = None
        for label, d in per_ion.items():
            term = np.tensordot(self.matrices[label].T, d, axes=(1, 0))
            out = term if out is None else out + term
        return out

    def point_charge_moment(self, charges: dict[str, np.ndarray], weight: float) -> float:
        """``mu_pc / mu_I`` from in-plane Born charge tensors ``{label: (2, 2)}`` (module docstring)."""
        return weight * sum(float(np.trace((charges[k] @ c).T @ _EPS @ c @ _ROT)) / 2
                            for k, c in self.matrices.items())


def _matrix(value, label: str, source: str) -> np.ndarray:
    c = np.array(value, dtype=float)
    if c.shape == ():
        return c * np.eye(2)
    if c.shape != (2, 2):
        raise ConfigError(f"[phonon] pattern.{label} must be a number or a 2x2 matrix",
                          path=source, fix=f"e.g. pattern = {{ {label} = -0.77 }}")
    return c


def pattern_from_config(phonon: PhononSettings, ions_with_runs: set[str], source: str) -> PhononPattern:
    """The pattern of ``[phonon]``: ``species``/``ion`` (representative), ``pattern``, ``valence``."""
    rep = phonon.representative
    table = dict(phonon.pattern)
    if rep in table:
        raise ConfigError(f"[phonon] pattern names the representative ion {rep!r}", path=source,
                          fix="the representative ion moves by u itself; list only the other ions")
    matrices = {rep: np.eye(2), **{k: _matrix(v, k, source) for k, v in table.items()}}
    if MODE_RUN in ions_with_runs and len(ions_with_runs) > 1:
        raise ConfigError(f"runs of the whole mode (ion = \"{MODE_RUN}\") and runs of single ions "
                          "cannot be combined", path=source,
                          fix="use either runs that move all ions of the mode together, or runs that "
                              "displace one ion each")
    missing = set(matrices) - ions_with_runs if MODE_RUN not in ions_with_runs else set()
    if missing:
        raise ConfigError(f"no displaced runs for ion(s) {sorted(missing)} of the phonon pattern",
                          path=source,
                          fix="add [[displacement]] tables with ion = \"<label>\" for every ion in the "
                              "pattern (displaced along x and y), or remove it from the pattern")
    unused = ions_with_runs - set(matrices) - {MODE_RUN}
    if unused:
        raise ConfigError(f"displaced runs of ion(s) {sorted(unused)} are not part of the phonon "
                          f"pattern", path=source,
                          fix="give their displacement ratio in [phonon] pattern, e.g. "
                              f"pattern = {{ {sorted(unused)[0]} = -0.77 }}, or drop those runs")
    masses = {}
    if phonon.mass_amu is not None:
        masses[rep] = phonon.mass_amu
    for label in matrices:
        element = label.rstrip("0123456789")       # Wannier90-style labels: B1, N2 ...
        if label not in masses:
            try:
                masses[label] = species_mass(element)
            except ConfigError:
                pass
    valence = phonon.valence
    valences = valence if isinstance(valence, dict) else ({} if valence is None else {rep: valence})
    return PhononPattern(rep, matrices, masses, {k: float(v) for k, v in valences.items()})
