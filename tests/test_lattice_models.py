"""Lattice regularisations of the Dirac models (tight-binding path of the engine).

The lattice model with lattice constant a approaches the continuum model with
the same in-plane band curvature Delta2 as a -> 0, with corrections of order
(D a / v)^2 from the doublers and from sin(k a) != k a; FFT and direct Fourier
sums agree to round-off.
"""

import math

import numpy as np
import pytest

import wanphonon
from wanphonon.engine.grids import UniformGrid
from wanphonon.systems.dirac import graphene_dirac
from wanphonon.systems.lattice_dirac import dirac_lattice


def test_fft_equals_direct_fourier_sum():
    tb = dirac_lattice(graphene_dirac(0.3, 0.5, 1.0), a=1.0)
    grid = UniformGrid(tb.lattice, (12, 12, 1), batch_size=36)
    for index in (0, grid.n_batches - 1):
        batch = grid.batch(index)
        a, b = tb.derivatives_fft(*batch.fft, batch.k_cart), tb.derivatives(batch.k_cart)
        for name in ("H", "dk", "du", "dkdu"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-13)


def test_graphene_lattice_converges_to_continuum():
    d, z, v = 0.3, 0.5, 1.0
    deviations = []
    for a, n in ((0.5, 256), (0.25, 384)):
        delta2 = -v * a / 2          # the lattice's Wilson curvature, also given to the continuum
        lattice = wanphonon.run({"model": {"name": "graphene_dirac_lattice", "delta": d, "zeta": z, "v": v,
                                           "a": a, "delta2": delta2}, "kmesh": {"size": [n, n, 1]}})
        continuum = wanphonon.run({"model": {"name": "graphene_dirac", "delta": d, "zeta": z, "v": v,
                                             "delta2": delta2}})
        deviations.append(lattice.chi["total"] / continuum.chi["total"] - 1)
        assert lattice.chi["nontopological"] == pytest.approx(0, abs=1e-6 * lattice.chi["total"])
    # second order in a: halving a divides the deviation by about 4
    assert abs(deviations[1]) < 0.02
    assert 3.0 < deviations[0] / deviations[1] < 5.0


def test_graphene_lattice_spin_and_per_cell_units():
    r = wanphonon.run({"model": {"name": "graphene_dirac_lattice", "delta": 0.3, "zeta": 0.5, "v": 1.0,
                                 "a": 1.0}, "kmesh": {"size": [64, 64, 1]}})
    assert r.setting["spin_degeneracy"] == 2
    assert r.setting["cell_measure"] == pytest.approx(1.0)
    assert r.born_charge_units == "e"
    # the moment per cell in ionic magnetons is A_c chi_total (mode weight 1)
    assert r.moment["ionic_magneton"] == pytest.approx(1.0 * r.chi["total"])
    assert math.isfinite(r.berry_curvature["chern_number"])
