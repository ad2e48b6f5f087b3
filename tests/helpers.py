"""Shared test fixtures: a generic tight-binding model and an independent T(k).

``random_tight_binding`` builds a model with no symmetry: random complex
hoppings to neighbours, random displacement derivatives, Wannier centres off
the origin that move with the phonon.  A staggered on-site energy keeps the
``n_occ`` lowest bands apart from the rest.

``reference_total_integrand`` evaluates ``T(k)`` of theory.md sec. 4 literally:
every chain ``oint G X_1 G ... X_q G`` is an explicit sum over band indices
weighted by the divided differences ``I_p`` of the table in theory.md sec. 5.
It shares no code with wanphonon's recursion-based evaluation.
"""

from __future__ import annotations

import itertools

import numpy as np

from wanphonon.geometry.curvature import curvature
from wanphonon.geometry.projector_chains import ProjectorCalculus, dagger, eigen_blocks
from wanphonon.systems.tight_binding import TightBinding


def random_hermitian(rng, n):
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return a + a.conj().T


def random_tight_binding(seed=0, n=3, n_occ=1, gap=4.0, hop=0.6, moving_centres=True):
    rng = np.random.default_rng(seed)
    lattice = np.array([[2.1, 0.3, 0.0], [-0.4, 1.9, 0.0], [0.0, 0.0, 12.0]])
    rs = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0), (2, 0, 0)]
    h = {}
    dh = {}
    onsite = np.diag(np.where(np.arange(n) < n_occ, -gap / 2, gap / 2) + rng.normal(size=n) * 0.2)
    for r in rs:
        if r == (0, 0, 0):
            h[r] = onsite + 0.3 * random_hermitian(rng, n)
            dh[r] = np.stack([random_hermitian(rng, n) for _ in range(2)]) * 0.5
        else:
            x = hop * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) / (1 + sum(map(abs, r)))
            h[r] = x
            h[tuple(-c for c in r)] = x.conj().T
            y = 0.4 * (rng.normal(size=(2, n, n)) + 1j * rng.normal(size=(2, n, n)))
            dh[r] = y
            dh[tuple(-c for c in r)] = np.conj(np.swapaxes(y, -1, -2))
    keys = sorted(h)
    centres = rng.uniform(-0.6, 0.6, size=(n, 3)) * np.array([1, 1, 0])
    dcentres = rng.normal(size=(2, n, 3)) * 0.3 * np.array([1, 1, 0]) if moving_centres else np.zeros((2, n, 3))
    return TightBinding(lattice, np.array(keys), np.array([h[k] for k in keys]),
                        np.moveaxis(np.array([dh[k] for k in keys]), 1, 0), centres, dcentres,
                        name="random", n_occ=n_occ)


def divided_difference(energies, occupied):
    """``I_p`` of theory.md sec. 5 for one index tuple (energies and occupations)."""
    a = [e for e, o in zip(energies, occupied) if o]
    r = [e for e, o in zip(energies, occupied) if not o]
    p = len(energies)
    if p == 1:
        return 1.0 if a else 0.0
    if not a or not r:
        return 0.0
    if p == 2:
        return 1 / (a[0] - r[0])
    if p == 3:
        if len(a) == 1:
            return 1 / ((a[0] - r[0]) * (a[0] - r[1]))
        return -1 / ((a[0] - r[0]) * (a[1] - r[0]))
    if p == 4:
        if len(a) == 1:
            return 1 / ((a[0] - r[0]) * (a[0] - r[1]) * (a[0] - r[2]))
        if len(a) == 3:
            return 1 / ((a[0] - r[0]) * (a[1] - r[0]) * (a[2] - r[0]))
        x, y = a
        s, t = r
        return -(x + y - s - t) / ((x - s) * (x - t) * (y - s) * (y - t))
    raise ValueError(p)


def chain(ops, energies, n_occ):
    """``oint G X_1 G ... X_q G`` in the eigenbasis by explicit index sums."""
    n = len(energies)
    occ = [i < n_occ for i in range(n)]
    q = len(ops)
    out = np.zeros((n, n), dtype=complex)
    for idx in itertools.product(range(n), repeat=q + 1):
        w = divided_difference([energies[i] for i in idx], [occ[i] for i in idx])
        if w == 0.0:
            continue
        val = w
        for m, x in enumerate(ops):
            val = val * x[idx[m], idx[m + 1]]
        out[idx[0], idx[-1]] += val
    return out


def reference_total_integrand(h, dk, du, dkdu, n_occ):
    """``T(k)`` at one k-point from theory.md sec. 4 with literal chains."""
    e, v = np.linalg.eigh(h)
    tr = lambda x: v.conj().T @ x @ v  # noqa: E731
    hk = [tr(dk[i]) for i in range(2)]
    hu = [tr(du[a]) for a in range(2)]
    hku = [[tr(dkdu[i][a]) for a in range(2)] for i in range(2)]
    p = np.diag([1.0 if i < n_occ else 0.0 for i in range(len(e))])
    pa = [chain([x], e, n_occ) for x in hu]
    pia = [[chain([hk[i], hu[a]], e, n_occ) + chain([hu[a], hk[i]], e, n_occ) + chain([hku[i][a]], e, n_occ)
            for a in range(2)] for i in range(2)]
    eps = {(0, 1): 1.0, (1, 0): -1.0}
    pb = sum(-0.5j * s * chain([hk[i], hk[j]], e, n_occ) for (i, j), s in eps.items())
    pba = []
    for a in range(2):
        acc = 0
        for (i, j), s in eps.items():
            acc = acc + s * (chain([hu[a], hk[i], hk[j]], e, n_occ) + chain([hk[i], hu[a], hk[j]], e, n_occ)
                             + chain([hk[i], hk[j], hu[a]], e, n_occ) + chain([hku[i][a], hk[j]], e, n_occ)
                             + chain([hk[i], hku[j][a]], e, n_occ))
        pba.append(-0.5j * acc)
    com = lambda x, y: x @ y - y @ x  # noqa: E731
    t = (1j * np.trace(pb @ com(pa[0], pa[1])) + 1j * np.trace(p @ com(pba[0], pa[1]))
         + 1j * np.trace(p @ com(pa[0], pba[1])))
    for (i, j), s in eps.items():
        t += 0.5 * s * np.trace(p @ (pia[i][0] @ pia[j][1] - pia[i][1] @ pia[j][0]))
    return t


def flake_chi_total(tb, size, n_occ, kappa=1e-4):
    """chi_total of an open L x L flake of ``tb``, with no k-space at all (theory.md sec. 4).

    chi_total = (1/Area) d Omega^MB_{ux uy} / d kappa at kappa = eB/hbar = 0, where
    Omega^MB is the many-electron Berry curvature of the flake's ground state in
    displacement space and B enters through Peierls factors
    exp[i (kappa/2)(x_i y_j - x_j y_i)] on <i|H|j> (symmetric gauge).
    Orbital i sits at X_i(u) = R + tau_b + u . dtau_b: when the orbitals move with
    the ions (``tb.dcentres``) they are magnetic translations of fixed orbitals,
    |phi_i> = exp[-i (kappa/2) X_i x r] phi(r - X_i), consistent with the Peierls
    factors.  Such a moving basis has the Berry connection
    A_i = i <phi_i| d_u phi_i> = -(kappa/2) (X_i x d_u X_i)_z and curvature
    F_i = -kappa (d_ux X_i x d_uy X_i)_z, and

        Omega^MB = i Tr P [D_ux P, D_uy P] + Tr P F,   D_u = d_u - i [A_u, .],

    evaluated with the covariant derivative of H, D_u H = d_u H - i [A_u, H], where
    d_u H contains both dH/du and the change of the Peierls phases with X(u).
    Area = number of cells x cell area; edges give O(1/L) corrections.
    """
    lat = tb.lattice[:2, :2]
    n = tb.num_bands
    cells = [(i, j) for i in range(size) for j in range(size)]
    index = {c: m for m, c in enumerate(cells)}
    dim = len(cells) * n
    h0 = np.zeros((dim, dim), complex)
    dh = np.zeros((2, dim, dim), complex)
    for r, h, d in zip(tb.R, tb.H_R, np.moveaxis(tb.dH_R, 0, 1)):
        for c in cells:
            other = index.get((c[0] + r[0], c[1] + r[1]))
            if r[2] == 0 and other is not None:
                a, b = index[c] * n, other * n
                h0[a:a + n, b:b + n] += h
                dh[:, a:a + n, b:b + n] += d
    pos = (np.array(cells, float) @ lat)[:, None, :] + tb.centres[None, :, :2]
    x, y = (pos.reshape(-1, 2) - pos.reshape(-1, 2).mean(0)).T
    dx = np.tile(tb.dcentres[:, :, 0], (1, len(cells)))            # (2, dim): d x_i / d u_a
    dy = np.tile(tb.dcentres[:, :, 1], (1, len(cells)))
    occ = n_occ * len(cells)

    def omega(kap):
        phase = np.exp(0.5j * kap * (x[:, None] * y[None, :] - x[None, :] * y[:, None]))
        h = h0 * phase
        e, v = np.linalg.eigh(h)
        cov = []
        for a in range(2):
            d_cross = (dx[a][:, None] * y[None, :] + x[:, None] * dy[a][None, :]
                       - dx[a][None, :] * y[:, None] - x[None, :] * dy[a][:, None])
            d_h = dh[a] * phase + 0.5j * kap * d_cross * h
            conn = -0.5 * kap * (x * dy[a] - y * dx[a])               # A_i for u_a
            cov.append(v.conj().T @ (d_h - 1j * (conn[:, None] - conn[None, :]) * h) @ v)
        w = 1 / (e[:occ, None] - e[None, occ:])
        om = -2 * np.imag(np.sum(cov[0][:occ, occ:] * cov[1][occ:, :occ].T * w ** 2))
        curv = -kap * (dx[0] * dy[1] - dy[0] * dx[1])                 # F_i
        return om + np.sum(np.abs(v[:, :occ]) ** 2 * curv[:, None])

    area = len(cells) * abs(np.linalg.det(lat))
    return (omega(kappa) - omega(-kappa)) / (2 * kappa) / area


def curvature_matrices(derivs, eig) -> dict[tuple[str, str], np.ndarray]:
    """Non-Abelian curvatures ``Omega_ab`` ``(nk, n_occ, n_occ)`` in the gauge of ``eig.vectors``.

    Keys are pairs of parameter names among kx, ky, kz, ux, uy (``a < b`` in that
    order).  Matrices rotate as ``U^dag Omega U`` under a change of gauge; their
    traces and traces of products do not.
    """
    no = eig.n_occ
    calc = ProjectorCalculus(eig.energies, no)
    vh = np.ascontiguousarray(dagger(eig.vectors))
    ops = {"kx": derivs.dk[0], "ky": derivs.dk[1], "kz": derivs.dk[2], "ux": derivs.du[0],
           "uy": derivs.du[1]}
    d = {name: dagger(calc.first_order(eigen_blocks(eig.vectors, vh, x, no, ou_only=True)).ou)
         for name, x in ops.items()}
    names = list(ops)
    return {(a, b): curvature(d[a], d[b]) for i, a in enumerate(names) for b in names[i + 1:]}
