"""The Python API: a model object gives the same Result as the equivalent configuration."""

import pytest

import wanphonon
from wanphonon.engine.grids import UniformGrid
from wanphonon.errors import ConfigError
from wanphonon.systems.dirac import graphene_dirac
from wanphonon.systems.lattice_dirac import dirac_lattice


def test_run_system_matches_configured_run():
    tb = dirac_lattice(graphene_dirac(delta=0.3, zeta=0.5, v=1.0), a=1.0)
    direct = wanphonon.run_system(tb, UniformGrid(tb.lattice, (48, 48, 1)), occupied_bands=2,
                                  spin_degeneracy=2, mass_amu=12.011)
    configured = wanphonon.run({"model": {"name": "graphene_dirac_lattice", "delta": 0.3, "zeta": 0.5,
                                          "v": 1.0, "a": 1.0},
                                "kmesh": {"size": [48, 48, 1]}, "phonon": {"species": "C"}})
    for key, value in configured.chi.items():
        assert direct.chi[key] == pytest.approx(value, rel=1e-13, abs=1e-15)
    # per cell of area a^2 = 1 A^2: mu / mu_I = A_c chi_total, and mu_N = mu_I m_p / m_C
    assert direct.moment["ionic_magneton"] == pytest.approx(direct.chi["total"], rel=1e-13)
    assert direct.moment["nuclear_magneton"] == pytest.approx(direct.chi["total"] * 1.007276 / 12.011,
                                                              rel=1e-5)


def test_run_system_needs_an_occupation():
    tb = dirac_lattice(graphene_dirac(delta=0.3, zeta=0.5, v=1.0), a=1.0)
    with pytest.raises(ConfigError, match="occupied_bands"):
        wanphonon.run_system(tb, UniformGrid(tb.lattice, (8, 8, 1)))
