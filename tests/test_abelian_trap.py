"""Why the non-Abelian trace is used (theory.md sec. 3, 9.1).

In gapped graphene the two occupied bands are degenerate at u = 0.  Evaluating
the second Chern form band-diagonally, sum_n Omega^{nn} Omega^{nn}, in the
valley basis reproduces the paper's statements: vanishing Born-charge terms and
an energy term sgn(D) z^2/(12 pi D^2), the printed total.  Rotating the
degenerate pair moves weight between the band-diagonal terms (the paper's
"vanishing Born-charge terms" are a property of the valley gauge), while the
traces of matrix products (wanphonon) stay at z^2/(12 pi D^2) each, i.e.
sgn(D) z^2/(4 pi D^2) in all.
"""

import math

import numpy as np
import pytest

from wanphonon.engine.grids import PolarGrid
from wanphonon.geometry.bands import Eigensystem
from wanphonon.geometry.integrands import evaluate

from helpers import curvature_matrices  # noqa: E402
from wanphonon.systems.dirac import graphene_dirac

D, Z, V = 0.3, 0.5, 1.0


def valley_eigensystem(h):
    """Eigenvectors of the valley blocks (orbitals 0,1: K; 2,3: K'), occupied first."""
    nk = len(h)
    energies = np.zeros((nk, 4))
    vectors = np.zeros((nk, 4, 4), complex)
    for block, (lo, hi) in enumerate(((0, 2), (2, 4))):
        e, v = np.linalg.eigh(h[:, lo:hi, lo:hi])
        for band, col in ((0, block), (1, 2 + block)):   # lower band occupied
            energies[:, col] = e[:, band]
            vectors[:, lo:hi, col] = v[:, :, band]
    return Eigensystem(energies, vectors, 2)


def band_diagonal_terms(om, weights):
    """(born, energy) of the second Chern form with band-diagonal products, integrated."""
    diag = {k: np.real(np.diagonal(m, axis1=1, axis2=2)) for k, m in om.items()}
    born = (np.sum(diag["kx", "uy"] * diag["ky", "ux"], 1) - np.sum(diag["kx", "ux"] * diag["ky", "uy"], 1))
    energy = np.sum(diag["kx", "ky"] * diag["ux", "uy"], 1)
    return weights @ born, weights @ energy


def test_band_diagonal_evaluation_is_gauge_dependent():
    model = graphene_dirac(D, Z, V)
    batch = PolarGrid(D / V).batch(0)
    derivs = model.derivatives(batch.k_cart)
    eig = valley_eigensystem(derivs.H)
    paper = math.copysign(1, D) * Z ** 2 / (12 * math.pi * D ** 2)
    correct = 3 * paper

    born, energy = band_diagonal_terms(curvature_matrices(derivs, eig), batch.weights)
    assert born == pytest.approx(0.0, abs=1e-12 * paper)
    assert energy == pytest.approx(paper, rel=1e-9)

    nonabelian = evaluate(derivs, eig)
    assert batch.weights @ nonabelian.topological == pytest.approx(correct, rel=1e-9)
    assert batch.weights @ nonabelian.born == pytest.approx(2 * paper, rel=1e-9)

    # rotate the degenerate occupied pair by a fixed unitary mixing the valleys
    theta = 0.7
    u = np.array([[np.cos(theta), -np.sin(theta) * np.exp(0.3j)],
                  [np.sin(theta) * np.exp(-0.3j), np.cos(theta)]])
    v = eig.vectors.copy()
    v[:, :, :2] = v[:, :, :2] @ u
    rotated = Eigensystem(eig.energies, v, 2)
    born_r, energy_r = band_diagonal_terms(curvature_matrices(derivs, rotated), batch.weights)
    assert abs(energy_r - paper) > 0.5 * abs(paper)
    assert abs(born_r) > 0.5 * abs(paper)
    again = evaluate(derivs, rotated)
    assert batch.weights @ again.energy == pytest.approx(paper, rel=1e-9)
    assert batch.weights @ again.born == pytest.approx(2 * paper, rel=1e-9)
