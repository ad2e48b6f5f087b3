"""Geometry core against routes that share no code with it.

* curvatures and second-Chern traces vs finite differences of exact projectors,
  ``Omega_ab = i P [d_a P, d_b P] P``;
* ``T(k)`` vs the literal divided-difference sums of theory.md sec. 5;
* integrated Born charges vs Wilson loops (Berry phases) in (k_i, u_j);
* invariance under unitary rotations of the orbital basis and of degenerate
  subspaces.
All on a generic 3- and 4-band lattice model without symmetry whose Wannier
centres move with the phonon (Bloch convention I).
"""

import numpy as np
import pytest
from helpers import random_tight_binding, reference_total_integrand

from wanphonon.engine.grids import UniformGrid
from wanphonon.engine.integrate import integrate
from wanphonon.geometry.bands import Eigensystem, diagonalize
from wanphonon.geometry.hamiltonian import HamiltonianDerivatives
from wanphonon.geometry.integrands import curvature_matrices, evaluate
from wanphonon.systems.dirac import graphene_dirac

CASES = [(3, 1, 0), (3, 2, 1), (4, 2, 2)]


def bloch_h(tb, k, u):
    """Exact H(k; u) of convention I with centres tau + u . dtau (independent of the FFT code)."""
    tau = tb.centres + np.einsum("a,anj->nj", u, tb.dcentres)
    h_r = tb.H_R + np.einsum("a,arij->rij", u, tb.dH_R)
    r = tb.R @ tb.lattice
    disp = r[:, None, None, :] + tau[None, None, :, :] - tau[None, :, None, :]
    return np.einsum("rij,rij->ij", h_r, np.exp(1j * disp @ k))


def projector(h, n_occ):
    e, v = np.linalg.eigh(h)
    return v[:, :n_occ] @ v[:, :n_occ].conj().T


def fd_projector_derivative(tb, k, axis, n_occ, step=1e-5):
    """Central difference of P along kx, ky (axis 0, 1) or ux, uy (axis 2, 3)."""
    def p(sign):
        kk, uu = np.array(k, float), np.zeros(2)
        if axis < 2:
            kk[axis] += sign * step
        else:
            uu[axis - 2] += sign * step
        return projector(bloch_h(tb, kk, uu), n_occ)
    return (p(1) - p(-1)) / (2 * step)


@pytest.mark.parametrize("n,n_occ,seed", CASES)
def test_curvatures_against_projector_finite_differences(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    ks = np.random.default_rng(seed + 10).uniform(-1.5, 1.5, (3, 3)) * [1, 1, 0]
    derivs = tb.derivatives(ks)
    res = evaluate(derivs, n_occ=n_occ)
    for m, k in enumerate(ks):
        p0 = projector(bloch_h(tb, k, np.zeros(2)), n_occ)
        dp = [fd_projector_derivative(tb, k, a, n_occ) for a in range(4)]
        om = {(a, b): 1j * p0 @ (dp[a] @ dp[b] - dp[b] @ dp[a]) @ p0 for a in range(4) for b in range(4)}
        tr = lambda x, y: np.trace(x @ y).real  # noqa: E731
        kx, ky, ux, uy = range(4)
        scale = max(1.0, abs(res.born_a[m]), abs(res.energy[m]))
        assert res.born_a[m] == pytest.approx(tr(om[kx, uy], om[ky, ux]), abs=1e-7 * scale)
        assert res.born_b[m] == pytest.approx(-tr(om[kx, ux], om[ky, uy]), abs=1e-7 * scale)
        assert res.energy[m] == pytest.approx(tr(om[kx, ky], om[ux, uy]), abs=1e-7 * scale)
        assert res.berry_curvature[m] == pytest.approx(np.trace(om[kx, ky]).real, abs=1e-7 * scale)
        for i in range(2):
            for j in range(2):
                assert res.born_charge[m, i, j] == pytest.approx(np.trace(om[i, 2 + j]).real,
                                                                 abs=1e-7 * scale)


@pytest.mark.parametrize("n,n_occ,seed", CASES)
def test_total_integrand_against_literal_divided_differences(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    ks = np.random.default_rng(seed + 20).uniform(-2, 2, (4, 3)) * [1, 1, 0]
    d = tb.derivatives(ks)
    res = evaluate(d, n_occ=n_occ)
    ref = np.array([reference_total_integrand(d.H[i], d.dk[:, i], d.du[:, i], d.dkdu[:, :, i], n_occ)
                    for i in range(len(ks))])
    assert np.abs(ref.imag).max() < 1e-10
    np.testing.assert_allclose(res.total, ref.real, rtol=1e-10, atol=1e-12)


def wilson_loop_born_charges(tb, n_occ, n_loop=400, n_perp=48, du=1e-4):
    """int [dk] Tr Omega_{k_i u_j} (Cartesian i) from Berry phases of Wilson loops.

    Tr Omega_{kappa_c u} integrated over the cell of reduced coordinates is
    -d/du of the Berry phase along b_c summed over the perpendicular direction;
    the loop closes with the convention-I twist u(k + b_c) = diag(e^{-i b_c.tau}) u(k).
    """
    recip = 2 * np.pi * np.linalg.inv(tb.lattice).T
    area = np.linalg.norm(np.cross(tb.lattice[0], tb.lattice[1]))
    out = np.zeros((2, 2))
    for j in range(2):
        per_dir = []
        for c in range(2):
            other = 1 - c
            total = 0.0
            for s in range(n_perp):
                logs = []
                for sign in (1, -1):
                    u = np.zeros(2)
                    u[j] = sign * du
                    tau = tb.centres + np.einsum("a,anj->nj", u, tb.dcentres)
                    vecs = []
                    for t in range(n_loop):
                        kred = np.zeros(3)
                        kred[c] = t / n_loop
                        kred[other] = (s + 0.5) / n_perp
                        vecs.append(np.linalg.eigh(bloch_h(tb, kred @ recip, u))[1][:, :n_occ])
                    vecs.append(np.exp(-1j * tau @ recip[c])[:, None] * vecs[0])
                    prod = np.eye(n_occ, dtype=complex)
                    for a, b in zip(vecs[:-1], vecs[1:]):
                        prod = prod @ (a.conj().T @ b)
                    logs.append(np.linalg.det(prod))
                # d(phase)/du, phase = -Im ln det(prod)
                total += -np.angle(logs[0] / logs[1]) / (2 * du)
            # int dkappa Tr Omega_{kappa_c u_j} = -d/du sum_perp(phase)/n_perp
            per_dir.append(-total / n_perp)
        # Omega_{kappa_c} = b_c . Omega_k ; int [dk] = (1/A_c) int dkappa
        b2 = recip[:2, :2]
        out[:, j] = np.linalg.solve(b2, np.array(per_dir)) / area
    return out


@pytest.mark.parametrize("n,n_occ,seed", CASES[:2])
def test_born_charges_against_wilson_loops(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    grid = UniformGrid(tb.lattice, (48, 48, 1))
    z = integrate(tb, grid, n_occ=n_occ).born_charge[:2]
    z_wilson = wilson_loop_born_charges(tb, n_occ)
    np.testing.assert_allclose(z, z_wilson, rtol=2e-5, atol=2e-5 * np.abs(z).max())


def random_unitary(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q * (np.diag(r) / abs(np.diag(r)))


def _all_outputs(res):
    return np.concatenate([res.born_a, res.born_b, res.energy, res.total, res.berry_curvature,
                           res.born_charge.ravel()])


@pytest.mark.parametrize("n,n_occ,seed", CASES)
def test_invariance_under_orbital_basis_rotation(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    d = tb.derivatives(np.random.default_rng(seed).uniform(-2, 2, (16, 3)) * [1, 1, 0])
    u = random_unitary(np.random.default_rng(seed + 1), n)
    rot = lambda x: u.conj().T @ x @ u  # noqa: E731
    d2 = HamiltonianDerivatives(rot(d.H), rot(d.dk), rot(d.du), rot(d.dkdu))
    a, b = _all_outputs(evaluate(d, n_occ=n_occ)), _all_outputs(evaluate(d2, n_occ=n_occ))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * max(1.0, np.abs(a).max()))


def test_invariance_under_rotations_of_degenerate_subspaces():
    """Graphene's occupied and empty levels are pairwise degenerate at u = 0."""
    model = graphene_dirac(0.3, 0.5, 1.0)
    k = np.random.default_rng(3).uniform(-1, 1, (32, 3)) * [1, 1, 0]
    d = model.derivatives(k)
    eig = diagonalize(d.H, n_occ=2)
    rng = np.random.default_rng(4)
    v = eig.vectors.copy()
    for m in range(len(k)):
        v[m, :, :2] = v[m, :, :2] @ random_unitary(rng, 2)
        v[m, :, 2:] = v[m, :, 2:] @ random_unitary(rng, 2)
    rotated = Eigensystem(eig.energies, v, 2)
    a = _all_outputs(evaluate(d, eigensystem=eig))
    b = _all_outputs(evaluate(d, eigensystem=rotated))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    # the curvature matrices themselves do change: only traces are physical
    om_a = curvature_matrices(d, eig)[("kx", "uy")]
    om_b = curvature_matrices(d, rotated)[("kx", "uy")]
    assert np.abs(om_a - om_b).max() > 1e-3
