"""Models with same-site (and degenerate) Wannier functions, written as frozen-phonon runs whose
gauge is scrambled on purpose, for tests/test_gauge_alignment.py and the bad-input corpus.

A scramble is what an independent Wannierisation of a displaced structure may return:
new WF ``a`` = ``w_a x`` old WF ``perm[a]`` translated by the lattice vector ``T[a]``
(and, optionally, a rotation within a group of same-site WFs).  The clean runs
(``H(R) + u.dH/du(R)``, exactly linear in u) are the independent reference.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from helpers import random_hermitian, random_tight_binding

from wanphonon.io.writers import FROZEN_PHONON_RUNS, displacement_tables, write_tb, write_win
from wanphonon.systems.tight_binding import TightBinding


def single_site_model(seed: int = 0, n: int = 3, real: bool = True) -> TightBinding:
    """``n`` WFs on one site (one ion), generic hoppings, one occupied band; the centres move
    with the ion.  ``real``: time-reversal symmetric (real H(R) and dH/du(R))."""
    tb = random_tight_binding(seed, n, 1, gap=5.0, hop=0.3, moving_centres=True)
    site = np.array([0.3, 0.2, 0.0])
    motion = np.repeat(np.eye(3)[:2, None, :], n, axis=1)          # d tau / d u = 1 (in-plane)
    tb = dataclasses.replace(tb, centres=np.repeat(site[None], n, 0), dcentres=motion)
    return make_real(tb) if real else tb


def make_real(tb: TightBinding) -> TightBinding:
    """The real part of H(R) and dH/du(R) (still Hermitian: H(-R) = H(R)^T)."""
    return dataclasses.replace(tb, H_R=tb.H_R.real.astype(complex), dH_R=tb.dH_R.real.astype(complex))


def p_shell_model(seed: int = 0, dim: int = 2) -> TightBinding:
    """Two sites, each with a degenerate p shell (three WFs of exactly equal on-site energy and
    no on-site coupling), generic hoppings to neighbours; the lower shell is occupied.
    ``dim = 3`` adds hoppings along a3 (use a 3D k-mesh)."""
    rng = np.random.default_rng(seed)
    lattice = np.array([[2.6, 0.1, 0.0], [-0.3, 2.4, 0.0], [0.0, 0.2, 3.0 if dim == 3 else 12.0]])
    centres = np.array([[0.0, 0.0, 0.0]] * 3 + [[1.2, 1.1, 0.4 if dim == 3 else 0.0]] * 3)
    n = 6
    steps = [(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0)] + ([(0, 0, 1), (1, 0, 1)] if dim == 3 else [])
    h = {(0, 0, 0): np.diag([-2.0] * 3 + [2.0] * 3).astype(complex)}
    inter = 0.4 * (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    h[(0, 0, 0)][:3, 3:] = inter
    h[(0, 0, 0)][3:, :3] = inter.conj().T
    dh = {(0, 0, 0): 0.5 * np.stack([random_hermitian(rng, n) for _ in range(2)])}
    for r in steps:
        x = 0.3 * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) / (1 + sum(map(abs, r)))
        y = 0.3 * (rng.normal(size=(2, n, n)) + 1j * rng.normal(size=(2, n, n)))
        h[r], h[tuple(-c for c in r)] = x, x.conj().T
        dh[r], dh[tuple(-c for c in r)] = y, np.conj(np.swapaxes(y, -1, -2))
    keys = sorted(h)
    motion = np.zeros((2, n, 3))
    motion[0, :3, 0] = motion[1, :3, 1] = 1.0                       # site A is the moving ion
    return TightBinding(lattice, np.array(keys), np.array([h[k] for k in keys]),
                        np.moveaxis(np.array([dh[k] for k in keys]), 1, 0), centres, motion,
                        name="p_shells", n_occ=3)


def kramers_model(seed: int = 0) -> TightBinding:
    """A time-reversal symmetric spinor model: three orbitals (two on the moving site A, one on
    B) x spin, in Wannier90's spinor order (orbital 1 up, orbital 1 down, ...), with generic
    spin-orbit coupling ``H(R) = h(R) x 1 + i sum_j a_j(R) x sigma_j`` (h, a_j real,
    ``a_j(-R) = -a_j(R)^T``) and a response of the same form; the lowest Kramers pair is
    occupied."""
    rng = np.random.default_rng(seed)
    lattice = np.array([[2.6, 0.1, 0.0], [-0.3, 2.4, 0.0], [0.0, 0.0, 12.0]])
    sigma = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
    steps = [(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0)]

    def spinful(h, a):
        return np.kron(h, np.eye(2)) + 1j * sum(np.kron(a[j], sigma[j]) for j in range(3))

    def pair(scale, onsite=None):
        out = {}
        h0 = scale * rng.normal(size=(3, 3))
        a0 = scale * rng.normal(size=(3, 3, 3))
        h0 = h0 + h0.T + (np.diag(onsite) if onsite is not None else 0)
        out[(0, 0, 0)] = spinful(h0, a0 - np.swapaxes(a0, 1, 2))
        for r in steps:
            h, a = scale * rng.normal(size=(3, 3)), scale * rng.normal(size=(3, 3, 3))
            out[r] = spinful(h, a)
            out[tuple(-c for c in r)] = spinful(h.T, -np.swapaxes(a, 1, 2))
        return out

    h, dh = pair(0.15, [-3.0, 2.0, 3.0]), [pair(0.4), pair(0.4)]
    keys = sorted(h)
    centres = np.repeat(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.2, 1.1, 0.0]]), 2, axis=0)
    motion = np.zeros((2, 6, 3))
    motion[0, :4, 0] = motion[1, :4, 1] = 1.0
    return TightBinding(lattice, np.array(keys), np.array([h[k] for k in keys]),
                        np.array([[d[k] for k in keys] for d in dh]), centres, motion,
                        name="kramers", n_occ=2)


@dataclasses.dataclass
class Scramble:
    """A discrete gauge change (and optionally a rotation ``rot`` applied after it)."""

    perm: np.ndarray
    phases: np.ndarray
    T: np.ndarray
    rot: np.ndarray | None = None

    @classmethod
    def random(cls, rng, n, translate=True, dim=2):
        T = rng.integers(-1, 2, size=(n, 3)) * ([1, 1, 1] if dim == 3 else [1, 1, 0])
        perm = np.arange(n)
        while np.array_equal(perm, np.arange(n)):       # a genuine reordering
            perm = rng.permutation(n)
        return cls(perm, np.exp(2j * np.pi * rng.uniform(size=n)),
                   T if translate else np.zeros((n, 3), int))

    @classmethod
    def random_pairs(cls, rng, n, translate=True):
        """Kramers pairs permuted, translated and rephased as wholes (one phase per pair)."""
        s = cls.random(rng, n // 2, translate)
        expand = (2 * s.perm[:, None] + np.arange(2)).reshape(-1)
        return cls(expand, np.repeat(s.phases, 2), np.repeat(s.T, 2, axis=0))

    def apply(self, R, H, centres, lattice):
        """``(R', H', centres')`` of the scrambled run (H and centres of the clean run)."""
        n = H.shape[-1]
        p, w, T = self.perm, self.phases, self.T
        new_R = R[:, None, None, :] - T[None, None, :, :] + T[None, :, None, :]   # R - T_b + T_a
        R_all = np.unique(new_R.reshape(-1, 3), axis=0)
        lookup = {tuple(r): i for i, r in enumerate(R_all)}
        idx = np.array([lookup[tuple(r)] for r in new_R.reshape(-1, 3)]).reshape(new_R.shape[:3])
        hp = H[:, p][:, :, p] * np.conj(w)[None, :, None] * w[None, None, :]
        out = np.zeros((len(R_all), n, n), complex)
        a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        out[idx, a[None], b[None]] = hp
        if self.rot is not None:
            out = np.conj(self.rot.T)[None] @ out @ self.rot
        return R_all, out, centres[p] + T @ lattice


def write_runs(folder, tb: TightBinding, delta: float, scrambles: dict | None = None,
               n_occ: int | None = None, mesh=(12, 12, 1), extra: str = "", spinors: bool = False) -> str:
    """Equilibrium and +-delta runs of ``tb`` (``_tb.dat``, 17 digits, and a ``.win``), the
    displaced ones changed by ``scrambles[seedname]`` where given; returns wanphonon.toml."""
    runs = {}
    n = tb.num_bands
    for seed, (sx, sy) in FROZEN_PHONON_RUNS.items():
        u = np.array([delta * sx, delta * sy])
        R, H = tb.R, tb.H_R + np.tensordot(u, tb.dH_R, 1)
        centres = tb.centres + np.tensordot(u, tb.dcentres, 1)
        if scrambles and seed in scrambles:
            R, H, centres = scrambles[seed].apply(R, H, centres, tb.lattice)
        pos = np.zeros(H.shape + (3,), complex)
        pos[np.flatnonzero(~R.any(1))[0], np.arange(n), np.arange(n)] = centres
        write_tb(os.path.join(folder, f"{seed}_tb.dat"), tb.lattice, R, np.ones(len(R), int), H, pos,
                 precise=True)
        write_win(os.path.join(folder, f"{seed}.win"), n, tb.lattice, ["C"], [[0.0, 0.0, 0.0]],
                  keywords={"spinors": True} if spinors else None)
        runs[seed] = (float(u[0]), float(u[1]))
    cfg = os.path.join(folder, "wanphonon.toml")
    with open(cfg, "w") as fh:
        fh.write(f'[wannier]\nseedname = "eq"\n{extra}{displacement_tables(runs)}'
                 f"[electrons]\noccupied_bands = {n_occ or tb.n_occ}\n[kmesh]\nsize = {list(mesh)}\n")
    return cfg
