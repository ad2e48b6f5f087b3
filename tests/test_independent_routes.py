"""Geometry core against routes that share no code with it.

* curvatures and second-Chern traces vs finite differences of exact projectors,
  ``Omega_ab = i P [d_a P, d_b P] P``;
* ``T(k)`` vs the literal divided-difference sums of theory.md sec. 5;
* integrated Born charges vs Wilson loops (Berry phases) in (k_i, u_j);
* invariance under unitary rotations of the orbital basis and of degenerate
  subspaces.
All on a generic 3- and 4-band lattice model without symmetry whose Wannier
centres move with the phonon (Bloch convention I).  The Wilson loops measure
the physical polarization, including the motion of the centres; the finite
differences work in the co-moving orbital basis and add the centre-motion
term ``-P dtau P`` of ``Omega_{k u}`` explicitly.
"""

import numpy as np
import pytest
from helpers import curvature_matrices, flake_chi_total, random_tight_binding, reference_total_integrand

from wanphonon.engine.grids import UniformGrid
from wanphonon.engine.integrate import Occupation, integrate
from wanphonon.geometry.bands import Eigensystem, diagonalize
from wanphonon.geometry.hamiltonian import HamiltonianDerivatives
from wanphonon.geometry.integrands import evaluate
from wanphonon.systems.dirac import graphene_dirac

CASES = [(3, 1, 0), (3, 2, 1), (4, 2, 2)]


def bloch_h(tb, k, u, moving=True):
    """H(k; u) of convention I by direct summation, with centres tau + u . dtau
    (``moving``) or at their equilibrium positions (the co-moving orbital basis)."""
    tau = tb.centres + (np.einsum("a,anj->nj", u, tb.dcentres) if moving else 0.0)
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
        return projector(bloch_h(tb, kk, uu, moving=False), n_occ)
    return (p(1) - p(-1)) / (2 * step)


@pytest.mark.parametrize("n,n_occ,seed", CASES)
def test_curvatures_against_projector_finite_differences(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    ks = np.random.default_rng(seed + 10).uniform(-1.5, 1.5, (3, 3)) * [1, 1, 0]
    derivs = tb.derivatives(ks)
    res = evaluate(derivs, diagonalize(derivs.H, n_occ=n_occ))
    for m, k in enumerate(ks):
        p0 = projector(bloch_h(tb, k, np.zeros(2)), n_occ)
        dp = [fd_projector_derivative(tb, k, a, n_occ) for a in range(4)]
        om = {(a, b): 1j * p0 @ (dp[a] @ dp[b] - dp[b] @ dp[a]) @ p0 for a in range(4) for b in range(4)}
        for i in range(2):
            for j in range(2):
                centre = -p0 @ np.diag(tb.dcentres[j][:, i]) @ p0
                om[i, 2 + j] = om[i, 2 + j] + centre
                om[2 + j, i] = om[2 + j, i] - centre
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
    tb = random_tight_binding(seed, n, n_occ, moving_centres=False)
    ks = np.random.default_rng(seed + 20).uniform(-2, 2, (4, 3)) * [1, 1, 0]
    d = tb.derivatives(ks)
    res = evaluate(d, diagonalize(d.H, n_occ=n_occ))
    ref = np.array([reference_total_integrand(d.H[i], d.dk[:, i], d.du[:, i], d.dkdu[:, :, i], n_occ)
                    for i in range(len(ks))])
    assert np.abs(ref.imag).max() < 1e-10
    np.testing.assert_allclose(res.total, ref.real, rtol=1e-10, atol=1e-12)


def bloch_h_batch(tb, k, u):
    """``bloch_h`` for a stack of k-points ``(nk, 3)`` (moving centres)."""
    tau = tb.centres + np.einsum("a,anj->nj", u, tb.dcentres)
    h_r = tb.H_R + np.einsum("a,arij->rij", u, tb.dH_R)
    r = tb.R @ tb.lattice
    disp = r[:, None, None, :] + tau[None, None, :, :] - tau[None, :, None, :]
    return np.einsum("rij,krij->kij", h_r, np.exp(1j * disp @ k.T).transpose(3, 0, 1, 2))


def wilson_loop_born_charges(tb, n_occ, n_loop=1000, n_perp=32, du=1e-4):
    """int [dk] Tr Omega_{k_i u_j} (Cartesian i) from Berry phases of Wilson loops.

    The polarization along b_c is the Berry phase of the occupied bands on a
    closed loop along b_c (summed over the perpendicular direction); the loop
    closes with the convention-I twist u(k + b_c) = diag(e^{-i b_c.tau(u)}) u(k),
    which carries the motion of the centres.  Tr Omega_{kappa_c u} integrated
    over the cell of reduced coordinates is minus the u-derivative of that
    phase (central difference).  Discretisation error ~ (2 pi / n_loop)^2.
    """
    recip = 2 * np.pi * np.linalg.inv(tb.lattice).T
    area = np.linalg.norm(np.cross(tb.lattice[0], tb.lattice[1]))
    out = np.zeros((2, 2))
    for j in range(2):
        per_dir = []
        for c in range(2):
            kred = np.zeros((n_perp, n_loop, 3))
            kred[:, :, c] = np.arange(n_loop)[None, :] / n_loop
            kred[:, :, 1 - c] = (np.arange(n_perp)[:, None] + 0.5) / n_perp
            dets = []
            for sign in (1, -1):
                u = np.zeros(2)
                u[j] = sign * du
                tau = tb.centres + np.einsum("a,anj->nj", u, tb.dcentres)
                h = bloch_h_batch(tb, kred.reshape(-1, 3) @ recip, u)
                vecs = np.linalg.eigh(h)[1][:, :, :n_occ].reshape(n_perp, n_loop, -1, n_occ)
                closing = np.exp(-1j * tau @ recip[c])[None, :, None] * vecs[:, 0]
                nxt = np.concatenate([vecs[:, 1:], closing[:, None]], axis=1)
                overlaps = np.conj(np.swapaxes(vecs, -1, -2)) @ nxt        # (perp, loop, occ, occ)
                prod = np.broadcast_to(np.eye(n_occ), (n_perp, n_occ, n_occ)).astype(complex)
                for t in range(n_loop):
                    prod = prod @ overlaps[:, t]
                dets.append(np.linalg.det(prod))
            # Berry phase -Im ln det; its u-derivative, averaged over the perpendicular direction
            dphase = -np.angle(dets[0] / dets[1]) / (2 * du)
            per_dir.append(-dphase.mean())
        # Omega_{kappa_c} = b_c . Omega_k ;  int [dk] = (1/A_c) int dkappa
        out[:, j] = np.linalg.solve(recip[:2, :2], np.array(per_dir)) / area
    return out


@pytest.mark.parametrize("n,n_occ,seed", CASES[:2])
def test_born_charges_against_wilson_loops(n, n_occ, seed):
    tb = random_tight_binding(seed, n, n_occ)
    grid = UniformGrid(tb.lattice, (48, 48, 1))
    z = integrate(tb, grid, Occupation(n_occ)).born_charge[:2]
    z_wilson = wilson_loop_born_charges(tb, n_occ)
    np.testing.assert_allclose(z, z_wilson, rtol=0, atol=2e-5 * np.abs(z).max())


def random_unitary(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q * (np.diag(r) / abs(np.diag(r)))


def _all_outputs(res):
    return np.concatenate([res.born_a, res.born_b, res.energy, res.total, res.berry_curvature,
                           res.born_charge.ravel()])


@pytest.mark.parametrize("n,n_occ,seed", CASES)
def test_invariance_under_orbital_basis_rotation(n, n_occ, seed):
    """Orbitals mixed by a unitary are no longer point-like at one centre each:
    the model keeps its centres fixed here (the position operator is diagonal)."""
    tb = random_tight_binding(seed, n, n_occ, moving_centres=False)
    d = tb.derivatives(np.random.default_rng(seed).uniform(-2, 2, (16, 3)) * [1, 1, 0])
    u = random_unitary(np.random.default_rng(seed + 1), n)
    rot = lambda x: u.conj().T @ x @ u  # noqa: E731
    d2 = HamiltonianDerivatives(rot(d.H), rot(d.dk), rot(d.du), rot(d.dkdu))
    a, b = _all_outputs(evaluate(d, diagonalize(d.H, n_occ=n_occ))), _all_outputs(evaluate(d2, diagonalize(d2.H, n_occ=n_occ)))
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
    a = _all_outputs(evaluate(d, eig))
    b = _all_outputs(evaluate(d, rotated))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    # the curvature matrices themselves do change: only traces are physical
    om_a = curvature_matrices(d, eig)[("kx", "uy")]
    om_b = curvature_matrices(d, rotated)[("kx", "uy")]
    assert np.abs(om_a - om_b).max() > 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_chi_total_against_finite_flakes(seed):
    """chi_total from k-space (T(k)) vs open flakes in a magnetic field, extrapolated in 1/L."""
    tb = random_tight_binding(seed, 3, 1, gap=5.0, hop=0.3, moving_centres=False)
    k_space = integrate(tb, UniformGrid(tb.lattice, (48, 48, 1)), Occupation(1)).values["total"]
    sizes = np.array([10.0, 14.0, 18.0])
    values = [flake_chi_total(tb, int(s), 1) for s in sizes]
    fit = np.linalg.solve(np.vstack([np.ones(3), 1 / sizes, 1 / sizes ** 2]).T, values)
    assert fit[0] == pytest.approx(k_space, rel=2e-5)
    # the flake values themselves approach it (not a fitting artefact)
    assert abs(values[-1] - k_space) < abs(values[0] - k_space)
