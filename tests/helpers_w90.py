"""Independent writers of Wannier90 3.1 files and a random model, for tests/test_io.py.

The files are written by ``wanphonon.io.writers`` (the formats of Wannier90's
own writers; the readers are also checked on real Wannier90 files in
examples/hbn_dft).  What must be independent of the readers is built here
literally, the way Wannier90 does it, with plain loops: the Wigner-Seitz R list
(``wigner_seitz``), the minimal-image shifts (``ws_translate_dist``) and H(k).
``.win`` variants (bohr, atoms_frac, odd syntax) are written here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from wanphonon.io.writers import write_centres_xyz as write_centres
from wanphonon.io.writers import _ndegen_lines, fortran_e, write_hr, write_tb, write_wsvec  # noqa: F401

HEADER = " written on 30Nov2026 at 12:00:00 "


def ws_vectors(lattice: np.ndarray, mp: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Wannier90's Wigner-Seitz R vectors of the supercell mp and their degeneracies (loops)."""
    metric = lattice @ lattice.T
    R, deg = [], []
    images = list(itertools.product(range(-2, 3), repeat=3))
    for n in itertools.product(*[range(-2 * m, 2 * m + 1) for m in mp]):
        n = np.array(n)
        dist = []
        for i in images:
            v = n - np.array(i) * np.array(mp)
            dist.append(v @ metric @ v)
        dist = np.array(dist)
        d0 = dist[images.index((0, 0, 0))]
        if d0 - dist.min() < 1e-7:
            R.append(n)
            deg.append(int(np.sum(np.abs(dist - dist.min()) < 1e-7)))
    return np.array(R), np.array(deg)


def ws_shifts(lattice, mp, R, centres) -> dict[tuple[int, int, int], np.ndarray]:
    """{(r, m, n): T (ndeg, 3)}: supercell translations minimising |R + T + tau_n - tau_m|."""
    out = {}
    Ts = np.array([np.array(i) * np.array(mp) for i in itertools.product(range(-2, 3), repeat=3)])
    for r, Rv in enumerate(R):
        for m in range(len(centres)):
            for n in range(len(centres)):
                d = np.linalg.norm((Rv + Ts) @ lattice + centres[n] - centres[m], axis=1)
                out[(r, m, n)] = Ts[np.abs(d - d.min()) < 1e-5]
    return out


@dataclass
class Model:
    lattice: np.ndarray
    mp: tuple[int, int, int]
    R: np.ndarray
    ndegen: np.ndarray
    H: np.ndarray          # file convention: not divided by ndegen
    pos: np.ndarray        # (nR, N, N, 3), file convention
    centres: np.ndarray
    shifts: dict
    symbols: list
    atoms: np.ndarray


SQUARE = np.array([[2.4, 0.0, 0.0], [0.0, 2.4, 0.0], [0.0, 0.0, 7.0]])
OBLIQUE = np.array([[2.3, 0.2, 0.0], [-0.9, 2.1, 0.1], [0.0, 0.3, 7.0]])


def random_model(seed: int = 0, nw: int = 3, mp=(4, 4, 1), lattice=SQUARE) -> Model:
    """A random Hermitian model on Wannier90's R list of the k grid ``mp``.

    On the square lattice with an even grid the boundary R vectors have
    ``ndegen`` 2 and 4, as in real files.
    """
    rng = np.random.default_rng(seed)
    R, ndegen = ws_vectors(lattice, mp)
    index = {tuple(r): i for i, r in enumerate(R)}
    H = np.zeros((len(R), nw, nw), complex)
    pos = np.zeros((len(R), nw, nw, 3), complex)
    centres = rng.uniform(-0.7, 0.7, size=(nw, 3)) @ lattice * 0.5
    for i, r in enumerate(R):
        j = index[tuple(-r)]
        if j < i:
            continue
        h = (rng.normal(size=(nw, nw)) + 1j * rng.normal(size=(nw, nw))) / (1 + np.abs(r).sum())
        p = (rng.normal(size=(nw, nw, 3)) + 1j * rng.normal(size=(nw, nw, 3))) * 0.1
        if i == j:
            h = h + h.conj().T + np.diag(rng.normal(size=nw) * 3)
            p = p + np.conj(np.swapaxes(p, 0, 1))
            p[np.arange(nw), np.arange(nw)] = centres
        H[i], pos[i] = h, p
        H[j], pos[j] = h.conj().T, np.conj(np.swapaxes(p, 0, 1))
    H[:, :, :] *= ndegen[:, None, None]       # as Wannier90 writes it
    pos *= ndegen[:, None, None, None]
    shifts = ws_shifts(lattice, mp, R, centres)
    return Model(lattice, tuple(mp), R, ndegen, H, pos, centres, shifts, ["Ga", "As"],
                 np.array([[0.1, 0.2, 0.0], [1.0, 0.9, 0.3]]))


def write_win(path, num_wann, lattice, symbols, positions, mp, *, bohr: bool = False,
              frac: bool = False, extra: str = "") -> None:
    b2a = 0.529177210903
    scale = 1 / b2a if bohr else 1.0
    unit = "Bohr\n" if bohr else ""
    cell = "".join(f"  {a[0]:.12f} {a[1]:.12f} {a[2]:.12f}\n" for a in lattice * scale)
    if frac:
        coords = positions @ np.linalg.inv(lattice)
        atoms = "begin atoms_frac\n" + "".join(
            f"{s} {c[0]:.12f} {c[1]:.12f} {c[2]:.12f}\n" for s, c in zip(symbols, coords))
        atoms += "end atoms_frac\n"
    else:
        atoms = f"Begin Atoms_Cart\n{unit}" + "".join(
            f"{s} {c[0]:.12f} {c[1]:.12f} {c[2]:.12f}  ! atom\n"
            for s, c in zip(symbols, positions * scale)) + "End Atoms_Cart\n"
    text = (f"! test model\nNUM_WANN = {num_wann}\nnum_bands : {num_wann + 2}   # comment\n"
            f"mp_grid {mp[0]} {mp[1]} {mp[2]}\nuse_ws_distance = .true.\n\n"
            f"begin unit_cell_cart\n{unit}{cell}end unit_cell_cart\n{atoms}"
            f"begin projections\n  Ga: s\n  As: p\nend projections\n{extra}")
    with open(path, "w") as f:
        f.write(text)


def write_seed(prefix, model: Model, kinds=("tb", "hr", "wsvec", "centres", "win"),
               precise: bool = True) -> None:
    m = model
    nw = m.H.shape[1]
    if "hr" in kinds:
        write_hr(f"{prefix}_hr.dat", m.R, m.ndegen, m.H, precise)
    if "tb" in kinds:
        write_tb(f"{prefix}_tb.dat", m.lattice, m.R, m.ndegen, m.H, m.pos, precise)
    if "wsvec" in kinds:
        write_wsvec(f"{prefix}_wsvec.dat", m.R, m.shifts, nw)
    if "centres" in kinds:
        write_centres(f"{prefix}_centres.xyz", m.centres, m.symbols, m.atoms)
    if "win" in kinds:
        write_win(f"{prefix}.win", nw, m.lattice, m.symbols, m.atoms, m.mp)


def hk_bruteforce(model: Model, k_frac: np.ndarray, use_ws: bool = True) -> np.ndarray:
    """H(k) = sum_R H(R)/ndegen * mean_j exp(2 pi i k.(R + T_j)), element by element (loops)."""
    nw = model.H.shape[1]
    Hk = np.zeros((len(k_frac), nw, nw), complex)
    for r, Rv in enumerate(model.R):
        for m in range(nw):
            for n in range(nw):
                T = model.shifts[(r, m, n)] if use_ws else np.zeros((1, 3), int)
                phase = np.exp(2j * np.pi * k_frac @ (Rv + T).T).mean(axis=1)
                Hk[:, m, n] += model.H[r, m, n] / model.ndegen[r] * phase
    return Hk
