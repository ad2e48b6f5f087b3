"""The pair of phonon eigenvectors that spans the chiral mode, folded into the cell of the runs.

Given the phonons at ``q`` (reduced coordinates of the primitive cell) and the
supercell ``S`` of the runs (``S q`` must be integer: then ``q`` folds to Gamma),
each chosen band ``b`` becomes the supercell pattern

    F_b(kappa, L) = e_b(kappa) exp(2 pi i q.(n_L + x_kappa)) / sqrt(m_kappa)

(phonopy's full-position phases).  The real displacements the runs can realise
are the real span of ``Re F_b, Im F_b``; the chiral mode needs exactly two:

* two real patterns (a degenerate pair at Gamma or at another q = -q point, or a
  single complex mode at q != -q, whose real and imaginary parts are the pair):
  taken as they are;
* more (several complex modes at q != -q, e.g. graphene's E' at K): the one mode
  of the set in which the representative ion moves most (the top eigenvector of
  the representative's weight in the set) gives the pair;
* fewer: a linearly polarised mode, refused.

Automatic choice (no ``bands``): the in-plane, non-acoustic, doubly degenerate
group of bands at q, if there is exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .phonons import PhononSource
from .structure import Structure

#: Frequencies (THz) below this are acoustic/zero modes, never chosen automatically.
ZERO_FREQUENCY_THZ = 0.2
#: Bands closer than this (THz, or relative 1e-5) are degenerate.
DEGENERACY_THZ = 1e-4
#: Largest out-of-plane weight of an "in-plane" group of modes.
IN_PLANE_TOLERANCE = 1e-6


@dataclass
class ModePair:
    vectors: np.ndarray            # (n, 3, 2) real displacement patterns (A), cell of the runs
    masses: np.ndarray             # (n,) amu
    info: dict = field(default_factory=dict)


def _groups(freqs: np.ndarray) -> list[list[int]]:
    order = np.argsort(freqs, kind="stable")
    groups = [[int(order[0])]]
    for a, b in zip(order[:-1], order[1:]):
        if abs(freqs[b] - freqs[a]) < max(DEGENERACY_THZ, 1e-5 * abs(freqs[a])):
            groups[-1].append(int(b))
        else:
            groups.append([int(b)])
    return groups


def _z_weight(evecs: np.ndarray, bands: list[int]) -> float:
    e = evecs[:, bands].reshape(-1, 3, len(bands))
    return float(np.sum(np.abs(e[:, 2]) ** 2) / len(bands))


def describe_bands(freqs, evecs) -> list[str]:
    out = []
    for g in _groups(freqs):
        plane = "in-plane" if _z_weight(evecs, g) < IN_PLANE_TOLERANCE else (
            "out-of-plane" if _z_weight(evecs, g) > 1 - IN_PLANE_TOLERANCE else "mixed")
        out.append(f"bands {g}: {np.mean(freqs[g]):.4f} THz, {len(g)}-fold, {plane}")
    return out


def auto_bands(freqs: np.ndarray, evecs: np.ndarray, where: str) -> list[int]:
    cands = [g for g in _groups(freqs) if len(g) == 2 and abs(np.mean(freqs[g])) > ZERO_FREQUENCY_THZ
             and _z_weight(evecs, g) < IN_PLANE_TOLERANCE]
    if len(cands) != 1:
        listing = "; ".join(describe_bands(freqs, evecs))
        raise ConfigError(f"{'no' if not cands else len(cands)} in-plane doubly degenerate optical pair"
                          f"{'s' if len(cands) != 1 else ''} at this q-point ({listing})", path=where,
                          fix="choose the modes with [mode] bands = [i, j] (0-based, sorted by frequency), "
                              "or bands = [i] for one complex mode at q != -q")
    return sorted(cands[0])


def _commensurate(structure: Structure, q: np.ndarray, where: str) -> None:
    sq = structure.supercell @ q
    if np.any(np.abs(sq - np.rint(sq)) > 1e-6):
        raise ConfigError(f"q = {np.round(q, 6).tolist()} does not fold to Gamma in the supercell "
                          f"{structure.supercell.tolist()}", path=where,
                          fix="choose [structure] supercell so that supercell @ qpoint is integer (graphene's "
                              "K = [1/3, 1/3, 0]: supercell = [[2, 1, 0], [-1, 1, 0], [0, 0, 1]])")


def folded(structure: Structure, source: PhononSource, q: np.ndarray, evecs: np.ndarray) -> np.ndarray:
    """``F`` ``(n, 3, nb)``: the bands as displacement patterns (A per unit amplitude) of the runs' cell."""
    x = structure.primitive.get_scaled_positions(wrap=False)[structure.prim_index]
    phase = np.exp(2j * np.pi * (structure.lattice_point + x) @ q)
    e = evecs.reshape(len(structure.primitive), 3, -1)[structure.prim_index]
    return e * (phase / np.sqrt(source.masses[structure.prim_index]))[:, None, None]


def _real_span(F: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Mass-orthonormal real basis ``(n, 3, r)`` (displacements) of the real span of ``F``."""
    w = np.sqrt(masses)[:, None, None]
    cols = np.concatenate([F.real, F.imag], axis=2) * w
    flat = cols.reshape(-1, cols.shape[2])
    u, s, _ = np.linalg.svd(flat, full_matrices=False)
    r = int(np.sum(s > 1e-8 * s[0])) if s.size and s[0] > 0 else 0
    return u[:, :r].reshape(F.shape[0], 3, r) / w


def default_representative(vectors: np.ndarray, masses: np.ndarray) -> int:
    """The atom that carries the largest in-plane share of the mass-weighted patterns (lowest index on ties)."""
    w = masses * np.sum(vectors[:, :2, :] ** 2, axis=(1, 2))
    return int(np.flatnonzero(w >= w.max() * (1 - 1e-8))[0])


def select_pair(structure: Structure, source: PhononSource, q, bands, representative, where: str) -> ModePair:
    """The chiral pair at ``q`` (see the module docstring); ``representative``: atom index or None."""
    q = np.asarray(q, float)
    _commensurate(structure, q, where)
    freqs, evecs = source.modes_at(q, where)
    if bands is None:
        bands = auto_bands(freqs, evecs, where)
        how = "automatic (the in-plane doubly degenerate optical pair)"
    else:
        bad = [b for b in bands if b >= len(freqs)]
        if bad:
            raise ConfigError(f"[mode] bands {bad} out of range: {len(freqs)} bands at this q-point",
                              path=where, fix="bands are 0-based, sorted by frequency")
        how = "given"
    zw = _z_weight(evecs, list(bands))
    if zw > IN_PLANE_TOLERANCE:
        raise ConfigError(f"the bands {list(bands)} move atoms out of the xy plane (out-of-plane weight "
                          f"{zw:.2g}); wanphonon's pattern u_kappa = C_kappa u is in-plane", path=where,
                          fix="choose in-plane modes: " + "; ".join(describe_bands(freqs, evecs)))
    masses = structure.masses
    F = folded(structure, source, q, evecs[:, bands])
    span = _real_span(F, masses)
    trim = bool(np.all(np.abs(2 * q - np.rint(2 * q)) < 1e-8))
    info = {"source": source.description, "qpoint": q.tolist(), "bands": list(bands),
            "frequencies_THz": [float(freqs[b]) for b in bands], "selection": how,
            "time_reversal_invariant_q": trim}
    df = float(np.ptp(freqs[bands]))
    info["degenerate"] = df < max(DEGENERACY_THZ, 1e-5 * abs(float(np.mean(freqs[bands]))))
    if span.shape[2] < 2:
        raise ConfigError(f"the chosen band(s) {list(bands)} give a single real displacement pattern: a "
                          "non-degenerate mode at a time-reversal-invariant q is linearly polarised",
                          path=where, fix="choose a degenerate pair (bands = [i, j]) or a complex mode at "
                                          "q != -q")
    if span.shape[2] > 2:
        if trim:
            raise ConfigError(f"the bands {list(bands)} span {span.shape[2]} real displacement patterns, "
                              "not a pair", path=where,
                              fix="choose the two bands that form the degenerate pair")
        rep = representative if representative is not None else default_representative(span, masses)
        m_rep = np.sqrt(masses[rep])
        M = F[rep, :2, :] * m_rep                               # (2, nb) mass-weighted, complex
        lam, vec = np.linalg.eigh(M.conj().T @ M)
        if lam[-1] <= 1e-12 or lam[-1] - lam[-2] < 1e-6 * lam[-1]:
            raise ConfigError(f"the representative ion {structure.labels[rep]} moves equally in several "
                              f"modes of the bands {list(bands)} (or not at all): the chiral mode is not "
                              "determined", path=where,
                              fix="choose one band (bands = [i]) or another representative")
        eps = np.tensordot(F, vec[:, -1], axes=(2, 0))          # (n, 3) complex
        span = _real_span(eps[:, :, None], masses)
        info["selection"] += (f"; the complex mode of the set in which {structure.labels[rep]} moves most "
                              f"(its weight {lam[-1]:.6g}, next {lam[-2]:.3g})")
        if span.shape[2] != 2:
            raise ConfigError("the selected complex mode is linearly polarised", path=where)
    return ModePair(span, masses, info)
