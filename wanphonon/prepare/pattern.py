"""From a pair of real displacement patterns to wanphonon's phonon pattern ``u_kappa = C_kappa u``.

The pair spans a plane of displacements ``sum_j a_j v_j``; ion kappa moves by
``D_kappa a`` (``D_kappa``: its in-plane 2x2 block, columns = the two patterns).
With ``u = D_rep a`` the representative's displacement, ``a = D_rep^-1 u`` and

    C_kappa = D_kappa D_rep^-1        (C_rep = identity; any basis of the pair gives the same C)

Mode weight (theory.md sec. 7, mode.py): ``w = m_rep / sum_kappa m_kappa |C_kappa|_F^2 / 2``.
For a mass-orthonormal pair ``e_1, e_2`` this equals ``2 / tr[(E^T E)^-1]``, ``E``
the representative's in-plane 2x2 block of ``(e_1, e_2)``: ``|e_rep|^2`` of the
circular combination ``(e_1 + i e_2)/sqrt 2`` when the representative moves on a
circle in the pair (``E`` proportional to an orthogonal matrix), the harmonic mean
of ``E^T E``'s eigenvalues otherwise.  Both are computed and must agree.

The explicit forms of ``[mode]`` (``pattern``: C per ion, ``vectors``: two
displacement patterns for all atoms) are turned into the same pair of patterns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..frozen_phonon.mode import PhononPattern
from .structure import Structure

#: Largest out-of-plane component (relative) tolerated in the pair.
OUT_OF_PLANE_TOLERANCE = 1e-6


@dataclass
class DisplacementPair:
    """The pair of real displacement patterns of a chiral mode in the DFT structure.

    It spans the plane of the circular motion; :meth:`phonon_pattern` reduces it to the
    run side's :class:`~wanphonon.frozen_phonon.mode.PhononPattern` (``u_kappa = C_kappa u``).
    """

    representative: int
    labels: list[str]
    vectors: np.ndarray                     # (n, 3, 2) displacement patterns (A) of the pair
    masses: np.ndarray                      # (n,) amu
    C: np.ndarray                           # (n, 2, 2), C[rep] = identity
    weight: float                           # from C and the masses (written as mode_weight)
    weight_pair: float                      # 2 / tr[(E^T E)^-1] of the mass-orthonormal pair
    polarisation: float                     # smallest/largest singular value of E (1: circular)
    info: dict = field(default_factory=dict)

    @property
    def rep_label(self) -> str:
        return self.labels[self.representative]

    def moving(self) -> list[int]:
        """Atoms with a nonzero C (representative first)."""
        rest = [i for i in range(len(self.labels)) if i != self.representative
                and np.abs(self.C[i]).max() > 1e-12]
        return [self.representative] + rest

    def value(self, i: int):
        """C of atom i for the TOML: a number when C is a multiple of the identity, else a 2x2 matrix."""
        c = self.C[i]
        s = 0.5 * (c[0, 0] + c[1, 1])
        if np.abs(c - s * np.eye(2)).max() <= 1e-9 * max(1.0, abs(s)):
            return _tidy(s)
        return [[_tidy(x) for x in row] for row in c]

    def phonon_pattern(self) -> PhononPattern:
        """The same pattern as :class:`wanphonon.frozen_phonon.mode.PhononPattern` (masses by label)."""
        idx = self.moving()
        return PhononPattern(self.rep_label, {self.labels[i]: np.array(self.C[i]) for i in idx},
                             {self.labels[i]: float(self.masses[i]) for i in idx})


def _tidy(x) -> float:
    """``x`` rounded to 13 decimals (drops eigensolver noise; far below the 2e-4 A position check)."""
    return float(round(float(x), 13)) + 0.0


def _clean(x: np.ndarray) -> np.ndarray:
    x = np.array(x, float)
    x[np.abs(x) < 1e-12] = 0.0
    return x


def from_vectors(vectors: np.ndarray, masses: np.ndarray, structure: Structure, rep: int,
                 where: str, info: dict | None = None) -> DisplacementPair:
    """The pattern of a pair of real displacement patterns ``(n, 3, 2)`` with representative ``rep``."""
    v = np.asarray(vectors, float)
    scale = np.abs(v).max()
    if scale == 0:
        raise ConfigError("the mode does not move any atom", path=where)
    z = np.abs(v[:, 2, :]).max() / scale
    if z > OUT_OF_PLANE_TOLERANCE:
        worst = int(np.argmax(np.abs(v[:, 2, :]).max(axis=1)))
        raise ConfigError(f"the mode moves atoms out of the xy plane (atom {structure.labels[worst]}: "
                          f"relative z amplitude {z:.2g}); wanphonon's pattern u_kappa = C_kappa u is in-plane",
                          path=where, fix="choose an in-plane pair (for a slab: modes even under the "
                                          "horizontal mirror)")
    D = v[:, :2, :]
    D_rep = D[rep]
    sv = np.linalg.svd(D_rep, compute_uv=False)
    if sv[-1] <= 1e-8 * np.abs(D).max():
        moving = [structure.labels[i] for i in range(len(D))
                  if np.linalg.svd(D[i], compute_uv=False)[-1] > 1e-8 * np.abs(D).max()]
        raise ConfigError(f"the representative ion {structure.labels[rep]} does not move in two independent "
                          "in-plane directions in this pair (it cannot go round a circle)", path=where,
                          fix="choose another representative" + (f" (candidates: {', '.join(moving)})"
                                                                 if moving else ""))
    C = _clean(np.einsum("kij,jl->kil", D, np.linalg.inv(D_rep)))
    C[rep] = np.eye(2)
    total = float(np.sum(masses * np.sum(C ** 2, axis=(1, 2))) / 2)
    weight = float(masses[rep] / total)
    # the same from the mass-orthonormal pair
    w = np.sqrt(masses)[:, None, None]
    q, _ = np.linalg.qr((v * w).reshape(-1, 2))
    E = q.reshape(v.shape)[rep, :2, :]
    weight_pair = float(2.0 / np.trace(np.linalg.inv(E.T @ E)))
    s = np.linalg.svd(E, compute_uv=False)
    pattern = DisplacementPair(rep, list(structure.labels), v, np.asarray(masses, float), C, weight, weight_pair,
                          float(s[-1] / s[0]), dict(info or {}))
    if abs(weight - weight_pair) > 1e-8 * weight:
        raise RuntimeError(f"mode weight from C ({weight}) and from the pair ({weight_pair}) disagree")
    check = pattern.phonon_pattern().mode_weight()
    if check is None or abs(check - weight) > 1e-10 * weight:
        raise RuntimeError(f"wanphonon.frozen_phonon.mode.PhononPattern gives mode_weight {check}, prepare {weight}")
    return pattern


def vectors_from_pattern(table: dict, structure: Structure, rep: int, where: str) -> np.ndarray:
    """``[mode] pattern`` (C per ion, number or 2x2 matrix) as a pair of displacement patterns."""
    n = len(structure.labels)
    v = np.zeros((n, 3, 2))
    v[rep, :2, :] = np.eye(2)
    for key, value in table.items():
        i = structure.index_of(key, where)
        if i == rep:
            raise ConfigError(f"[mode] pattern names the representative ion {structure.labels[rep]!r}",
                              path=where, fix="the representative ion moves by u itself; list only the others")
        c = np.array(value, dtype=float)
        if c.shape == ():
            c = c * np.eye(2)
        if c.shape != (2, 2):
            raise ConfigError(f"[mode] pattern.{key} must be a number or a 2x2 matrix", path=where,
                              fix=f"e.g. pattern = {{ {key} = -0.77 }}")
        v[i, :2, :] = c
    return v


def vectors_from_list(value: list, structure: Structure, where: str) -> np.ndarray:
    """``[mode] vectors``: two displacement patterns, one ``[x, y, z]`` (A) per atom."""
    try:
        v = np.array(value, dtype=float)
    except (TypeError, ValueError):
        v = np.zeros(0)
    n = len(structure.labels)
    if v.shape != (2, n, 3):
        raise ConfigError(f"[mode] vectors must be two patterns of {n} [x, y, z] displacements (one per atom "
                          "of the cell of the runs)", path=where,
                          fix="vectors = [[[x, y, z], ...], [[x, y, z], ...]]")
    return np.transpose(v, (1, 2, 0))
