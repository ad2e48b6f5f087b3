"""Finite-difference stencils and Wannier-gauge alignment, on frozen-phonon data of known models.

The "runs" are H(R; u) = H0 + u.G + (u.Q.u)/2 + (cubic) of a generic real model (no
symmetry), so that the exact dH/du = G is known independently of the stencil.
"""

import numpy as np
import pytest

from wanphonon.frozen_phonon.displacement import stencil
from wanphonon.errors import ConfigError, ModelMismatchError
from wanphonon.frozen_phonon.gauge import RealSpaceModel, align, on_common_r

LATTICE = np.array([[2.5, 0.0, 0.0], [-1.25, 2.165, 0.0], [0.0, 0.0, 10.0]])


def polynomial(u):
    ux, uy = u[:, 0], u[:, 1]
    return 2 * ux - 3 * uy + 5 * ux ** 2 - 4 * ux * uy + 7 * ux ** 3 + uy ** 3


@pytest.mark.parametrize("us, exact", [
    ([[1, 0], [-1, 0], [0, 1], [0, -1]], False),                       # central: O(d^2)
    ([[1, 0], [-1, 0], [2, 0], [-2, 0], [0, 1], [0, -1], [0, 2], [0, -2]], True),   # O(d^4)
])
def test_stencil_orders(us, exact):
    d = 1e-2
    u = np.array(us, float) * d
    s = stencil(u)
    g = s.apply(polynomial(u))
    if exact:   # the fourth-order stencil differentiates cubics exactly
        np.testing.assert_allclose(g, [2, -3], rtol=1e-10)
    else:       # central difference: error d^2 f'''/6 = 7 d^2 along x, d^2 along y
        np.testing.assert_allclose(g - [2, -3], [7 * d ** 2, d ** 2], rtol=1e-6)


def test_one_sided_and_least_squares():
    d = 1e-3
    u = np.array([[d, 0], [0, d]])
    s = stencil(u)                                   # forward differences with the equilibrium run
    np.testing.assert_allclose(s.weights, np.eye(2) / d)
    rng = np.random.default_rng(3)
    u = rng.normal(size=(7, 2)) * d                  # arbitrary amplitudes: polynomial fit
    lin = 2 * u[:, 0] - 3 * u[:, 1]
    np.testing.assert_allclose(stencil(u).apply(lin), [2, -3], rtol=1e-9)


def test_richardson_estimate_tracks_the_truncation_error():
    d = 1e-2
    u = np.array([[1, 0], [-1, 0], [2, 0], [-2, 0], [0, 1], [0, -1], [0, 2], [0, -2]], float) * d
    s = stencil(u)
    est = s.error_estimate(polynomial(u))["richardson_relative"]
    low_error = np.linalg.norm(np.tensordot(s.low_order, polynomial(u), axes=(1, 0)) - [2, -3])
    assert est == pytest.approx(low_error / np.hypot(2, 3), rel=1e-6)


@pytest.mark.parametrize("us, words", [
    ([[0.01, 0], [0, 0]], "equilibrium"),
    ([[0.01, 0], [0.01, 0], [0, 0.01]], "same u"),
    ([[0.01, 0], [-0.01, 0]], "both polarisation"),
])
def test_bad_displacement_sets(us, words):
    with pytest.raises(ConfigError, match=words):
        stencil(us)


def real_model(seed, n=5):
    """A generic real (time-reversal symmetric) Wannier model with distinct centres."""
    rng = np.random.default_rng(seed)
    rs = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (2, -1, 0)]
    R, H, G = [], [], []
    for r in rs:
        h = rng.normal(size=(n, n)) / (1 + sum(map(abs, r)))
        g = rng.normal(size=(2, n, n)) / (1 + sum(map(abs, r)))
        if r == (0, 0, 0):
            h = h + h.T + np.diag(np.linspace(-3, 3, n))
            g = g + np.swapaxes(g, 1, 2)
            R.append(r), H.append(h), G.append(g)
        else:
            R += [r, tuple(-c for c in r)]
            H += [h, h.T]
            G += [g, np.swapaxes(g, 1, 2)]
    centres = rng.uniform(0, 2, size=(n, 3)) * [1, 1, 0]
    dcentres = rng.normal(size=(2, n, 3)) * [1, 1, 0]
    return (np.array(R), np.array(H, complex), np.moveaxis(np.array(G, complex), 1, 0),
            centres, dcentres)


def run_at(model, u, curvature=0.7):
    R, H, G, c, dc = model
    h = H + np.tensordot(u, G, axes=(0, 0)) + curvature * (u @ u) * H   # nonlinear in u
    return RealSpaceModel(R, h, c + np.tensordot(u, dc, axes=(0, 0)))


def scramble(run, rng, lattice):
    """Reorder, rephase and translate the Wannier functions of a run (a pure gauge change)."""
    n = run.H.shape[-1]
    perm = rng.permutation(n)
    phases = np.exp(2j * np.pi * rng.uniform(size=n))
    T = rng.integers(-1, 2, size=(n, 3)) * [1, 1, 0]
    # new WF a = old WF perm[a] translated by +T[a]: H'_ab(R) = H_{pa pb}(R + T_a - T_b) e^{..}
    new_R = run.R[:, None, None, :] - T[None, None, :, :] + T[None, :, None, :]
    R_all = np.unique(new_R.reshape(-1, 3), axis=0)
    out = np.zeros((len(R_all), n, n), complex)
    lookup = {tuple(r): i for i, r in enumerate(R_all)}
    hp = run.H[:, perm][:, :, perm] * np.conj(phases)[None, :, None] * phases[None, None, :]
    for r in range(len(run.R)):
        for a in range(n):
            for b in range(n):
                out[lookup[tuple(new_R[r, a, b])], a, b] = hp[r, a, b]
    return RealSpaceModel(R_all, out, run.centres[perm] + T @ lattice)


def test_alignment_undoes_permutations_phases_and_translations():
    model = real_model(1)
    eq = run_at(model, np.zeros(2))
    rng = np.random.default_rng(7)
    for u in ([0.01, 0.0], [0.0, -0.02]):
        u = np.array(u)
        clean = run_at(model, u)
        aligned, report = align(eq, scramble(clean, rng, LATTICE), LATTICE, u, "scrambled")
        R, (ref, got) = on_common_r([clean, aligned])
        np.testing.assert_allclose(got, ref, atol=1e-12)
        np.testing.assert_allclose(aligned.centres, clean.centres, atol=1e-12)
        assert report.residual_before_per_A > 10 * report.residual_after_per_A
        # a consistently gauged run is left exactly as it is
        same, rep = align(eq, clean, LATTICE, u, "clean")
        R, (ref, got) = on_common_r([clean, same])
        assert np.array_equal(got, ref) and not rep.unitary_applied


def rotate_first_two(run, angle):
    """The run with Wannier functions 0 and 1 rotated into each other by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.eye(run.H.shape[-1])
    rot[:2, :2] = [[c, -s], [s, c]]
    return RealSpaceModel(run.R, rot.T @ run.H @ rot, run.centres)


def test_rotation_inside_a_site_is_undone():
    model = list(real_model(2))
    model[3][1] = model[3][0]            # WFs 0 and 1 on one site ...
    model[1][0, 1, 1] = model[1][0, 0, 0] + 0.1   # ... with nearly equal on-site energies
    eq = run_at(model, np.zeros(2))
    u = np.array([0.01, 0.0])
    clean = run_at(model, u)
    aligned, report = align(eq, rotate_first_two(clean, 0.6), LATTICE, u, "rotated")
    assert report.unitary_applied
    # the minimal-change gauge differs from the original by O(u) only
    assert report.residual_after_per_A < 0.5 * report.residual_before_per_A
    R, (ref, got, h0) = on_common_r([clean, aligned, eq])
    assert np.linalg.norm(got - ref) < 0.5 * np.linalg.norm(ref - h0)


def test_unrelated_model_is_refused():
    eq = run_at(real_model(1), np.zeros(2))
    other = run_at(real_model(5), np.array([0.01, 0.0]))
    with pytest.raises(ModelMismatchError, match="cannot be aligned"):
        align(eq, other, LATTICE, np.array([0.01, 0.0]), "other")


def test_mixing_across_sites_is_refused():
    """Wannier functions of different sites mixed by 0.3 rad: no on-site rotation undoes it."""
    model = real_model(1)
    eq = run_at(model, np.zeros(2))
    u = np.array([0.01, 0.0])
    with pytest.raises(ModelMismatchError, match="max_change_per_A"):
        align(eq, rotate_first_two(run_at(model, u), 0.3), LATTICE, u, "mixed")
