"""Wannier centres that move with the ions (docs/theory.md, "Moving Wannier centres").

* atomic limit: an electron on an orbital that follows its ion has Born charge
  -1 (per unit of centre motion) and screens one unit of the ionic moment;
* the integrands are periodic in k: any Brillouin-zone cell gives the same
  integrals (adding i k.dtau terms to d_u H, as theory.md sec. 10 suggests,
  breaks this, see docs/theory.md);
* chi_total agrees with open flakes whose orbitals move with the ions;
* Born charges with moving centres against Wilson loops are in
  test_independent_routes.py.
"""

import numpy as np
import pytest
from helpers import flake_chi_total, random_tight_binding

from wanphonon.engine.grids import UniformGrid
from wanphonon.engine.integrate import Occupation, integrate
from wanphonon.results import chi_terms
from wanphonon.systems.tight_binding import TightBinding


def atomic_model(dtau):
    """Two isolated orbitals per cell, the lower one occupied, moving with d tau/du = dtau."""
    lattice = np.array([[3.0, 0.0, 0.0], [1.0, 2.5, 0.0], [0.0, 0.0, 15.0]])
    h = np.array([np.diag([-1.0, 2.0]).astype(complex)])
    dcentres = np.zeros((2, 2, 3))
    dcentres[:, 0, :2] = np.asarray(dtau).T          # dcentres[a, orbital, i] = dtau[i, a]
    return TightBinding(lattice, np.zeros((1, 3), int), h, np.zeros((2, 1, 2, 2), complex),
                        np.array([[0.2, 0.1, 0.0], [1.0, 1.0, 0.0]]), dcentres, n_occ=1)


@pytest.mark.parametrize("dtau", [np.eye(2), [[0.7, 0.2], [-0.1, 0.4]]])
def test_atomic_limit(dtau):
    tb = atomic_model(dtau)
    grid = UniformGrid(tb.lattice, (6, 6, 1))
    res = integrate(tb, grid, Occupation(1))
    area = grid.cell_measure
    np.testing.assert_allclose(res.born_charge[:2] * area, -np.asarray(dtau), atol=1e-14)
    chi = chi_terms(res.values, 1)
    assert chi["born"] * area == pytest.approx(-np.linalg.det(dtau), abs=1e-14)
    assert chi["energy"] == pytest.approx(0.0, abs=1e-14)
    assert chi["total"] == pytest.approx(chi["topological"], abs=1e-14)


def test_results_do_not_depend_on_the_brillouin_zone_cell():
    tb = random_tight_binding(0, 3, 1, gap=5.0, hop=0.3, moving_centres=True)
    ref = integrate(tb, UniformGrid(tb.lattice, (48, 48, 1)), Occupation(1))
    for shift in ((24, 0, 0), (0, 24, 0), (13, 31, 0)):
        res = integrate(tb, UniformGrid(tb.lattice, (48, 48, 1), shift=shift), Occupation(1))
        for key, value in ref.values.items():
            assert res.values[key] == pytest.approx(value, rel=1e-10, abs=1e-14)
        np.testing.assert_allclose(res.born_charge, ref.born_charge, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed, n_occ", [(2, 1), (3, 2)])
def test_chi_total_with_moving_centres_against_finite_flakes(seed, n_occ):
    """Independent route: open flakes whose orbitals move with the ions (magnetic translations:
    Peierls phases at the moving positions plus the orbitals' Aharonov-Bohm Berry curvature,
    tests/helpers.flake_chi_total), extrapolated in 1/L, against the k-space chi_total."""
    tb = random_tight_binding(seed, 3, n_occ, gap=5.0, hop=0.3, moving_centres=True)
    k_space = integrate(tb, UniformGrid(tb.lattice, (48, 48, 1)), Occupation(n_occ)).values["total"]
    sizes = np.array([10.0, 14.0, 18.0])
    values = [flake_chi_total(tb, int(s), n_occ) for s in sizes]
    fit = np.linalg.solve(np.vstack([np.ones(3), 1 / sizes, 1 / sizes ** 2]).T, values)
    assert fit[0] == pytest.approx(k_space, rel=1e-4)
    assert abs(values[-1] - k_space) < abs(values[0] - k_space)
    # the centre motion matters here: the fixed-centre model gives another number
    fixed = random_tight_binding(seed, 3, n_occ, gap=5.0, hop=0.3, moving_centres=False)
    other = integrate(fixed, UniformGrid(tb.lattice, (48, 48, 1)), Occupation(n_occ)).values["total"]
    assert abs(other - k_space) > 0.1 * abs(k_space)
