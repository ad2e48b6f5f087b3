"""The continuum Dirac models against the closed forms of theory.md sec. 9.

Every expected number below is an analytic formula (per spin sector for
graphene); the code integrates the models numerically on polar grids.
"""

import dataclasses
import math

import numpy as np
import pytest

import wanphonon
from wanphonon.api import setup
from wanphonon.engine.integrate import Occupation, integrate

RTOL = 1e-6


def graphene(delta, zeta, v, **extra):
    cfg = {"model": {"name": "graphene_dirac", "delta": delta, "zeta": zeta, "v": v, **extra},
           "electrons": {"spin_degeneracy": 1}}
    return wanphonon.run(cfg)


@pytest.mark.parametrize("delta,zeta,v", [(0.3, 0.5, 1.0), (-0.2, 0.7, 2.3), (0.05, 12.0, 5.5)])
def test_graphene_terms(delta, zeta, v):
    r = graphene(delta, zeta, v)
    third = math.copysign(1, delta) * zeta ** 2 / (12 * math.pi * delta ** 2)
    for key in ("born_a", "born_b", "energy"):
        assert r.chi[key] == pytest.approx(third, rel=RTOL)
    assert r.chi["topological"] == pytest.approx(3 * third, rel=RTOL)   # sgn(D) z^2/(4 pi D^2)
    assert r.chi["total"] == pytest.approx(3 * third, rel=RTOL)
    assert abs(r.chi["nontopological"]) < 1e-9 * abs(third)
    assert np.abs(r.born_charge).max() < 1e-12


def test_graphene_spin_degeneracy_default_is_two():
    r = wanphonon.run({"model": {"name": "graphene_dirac", "delta": 0.3, "zeta": 0.5, "v": 1.0}})
    assert r.setting["spin_degeneracy"] == 2
    assert r.chi["topological"] == pytest.approx(2 * 0.25 / (4 * math.pi * 0.09), rel=RTOL)


@pytest.mark.parametrize("delta0,kz", [(0.03, 0.0), (-0.0205, 0.02), (-0.0205, 0.0)])
def test_cd3as2_slice(delta0, kz):
    zeta, v, delta1 = 1.3, 0.889, 18.77
    r = wanphonon.run({"model": {"name": "cd3as2_dirac", "delta0": delta0, "delta1": delta1,
                                 "eps0": -0.0116, "eps1": 10.59, "v": v, "zeta": zeta, "kz": kz}})
    d = delta0 - delta1 * kz ** 2
    top = math.copysign(1, d) * zeta ** 2 / (20 * math.pi * d ** 2)
    assert abs(r.chi["born"]) < 1e-9 * abs(top)
    assert r.chi["topological"] == pytest.approx(top, rel=RTOL)
    assert r.chi["energy"] == pytest.approx(top, rel=RTOL)
    assert r.chi["nontopological"] == pytest.approx(4 * top, rel=RTOL)
    assert r.chi["total"] == pytest.approx(5 * top, rel=RTOL)


def test_cd3as2_eps_drops_out():
    base = {"name": "cd3as2_dirac", "delta0": -0.02, "kz": 0.01, "zeta": 1.0}
    a = wanphonon.run({"model": base | {"eps0": 0.0, "eps1": 0.0}})
    b = wanphonon.run({"model": base | {"eps0": 0.3, "eps1": -40.0}})
    for key in a.chi:
        assert b.chi[key] == pytest.approx(a.chi[key], rel=1e-12, abs=1e-20)


def test_cd3as2_kz_integrated_semiconductor():
    d0, d1, zeta = -0.0205, 18.77, 2.0
    r = wanphonon.run({"model": {"name": "cd3as2_dirac", "delta0": d0, "delta1": d1, "zeta": zeta}})
    top = zeta ** 2 / (80 * math.pi) / (d0 * math.sqrt(abs(d0 * d1)))
    assert r.chi_units == "1/Angstrom^3"
    assert r.chi["topological"] == pytest.approx(top, rel=RTOL)
    assert r.chi["total"] == pytest.approx(5 * top, rel=RTOL)
    assert r.chi["nontopological"] == pytest.approx(4 * top, rel=RTOL)


def semimetal_ratio_exact(delta0, e_p):
    """sum over kz of sgn(D)/D^2 with 2|D| > E_p, over the semiconductor's, D = Delta0 (1 - x^2).

    With eps = E_p/(2 Delta0), x1 = sqrt(1 - eps), x2 = sqrt(1 + eps) and the
    antiderivative x/(2(1-x^2)) + (1/4) ln|(1+x)/(1-x)| of 1/(1-x^2)^2:
    integral = (x1 - x2)/eps + (1/2)[ln((1+x1)/(1-x1)) + ln((x2+1)/(x2-1))];
    the semiconductor gives -pi/2.
    """
    eps = e_p / (2 * delta0)
    x1, x2 = math.sqrt(1 - eps), math.sqrt(1 + eps)
    val = (x1 - x2) / eps + 0.5 * (math.log((1 + x1) / (1 - x1)) + math.log((x2 + 1) / (x2 - 1)))
    return val / (-math.pi / 2)


@pytest.mark.parametrize("e_p_mev", [3.0, 0.2])
def test_cd3as2_semimetal_cutoff_ratio(e_p_mev):
    d0, d1, zeta = 0.0205, 18.77, 1.0
    model = {"name": "cd3as2_dirac", "delta1": d1, "zeta": zeta}
    semi = wanphonon.run({"model": model | {"delta0": d0},
                          "phonon": {"phonon_energy_meV": e_p_mev, "adiabatic_cutoff": True}})
    ref = wanphonon.run({"model": model | {"delta0": -d0}})
    ratio = semi.chi["total"] / ref.chi["total"]
    assert ratio == pytest.approx(semimetal_ratio_exact(d0, 1e-3 * e_p_mev), rel=RTOL)
    # the asymptotic form of theory.md, -(2/pi)[ln(8 Delta0/E_p) - 1], up to O(E_p/Delta0)
    asym = -(2 / math.pi) * (math.log(8 * d0 / (1e-3 * e_p_mev)) - 1)
    assert ratio == pytest.approx(asym, rel=2 * 1e-3 * e_p_mev / d0)
    assert semi.chi["nontopological"] == pytest.approx(4 * semi.chi["topological"], rel=RTOL)


def test_semimetal_without_cutoff_is_refused():
    with pytest.raises(wanphonon.WanphononError, match="gap"):
        wanphonon.run({"model": {"name": "cd3as2_dirac", "delta0": 0.0205}})


def test_sign_flips_with_ux_graphene():
    """The text's q_5 = -z ux reading (ux -> -ux) flips every term."""
    params = {"name": "graphene_dirac", "delta": 0.3, "zeta": 0.5, "v": 1.0}
    a = wanphonon.run({"model": params})
    b = wanphonon.run({"model": params | {"reading": "qGamma"}})
    for key in a.chi:
        assert b.chi[key] == pytest.approx(-a.chi[key], rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name,params", [
    ("graphene_dirac", {"delta": -0.3, "zeta": 0.5, "v": 1.0}),
    ("cd3as2_dirac", {"delta0": -0.02, "kz": 0.0, "zeta": 1.0}),
    ("cd3as2_dirac", {"delta0": 0.04, "delta1": 18.0, "kz": 0.03, "zeta": 1.0}),
])
def test_sign_flips_with_ux(name, params):
    calc = setup({"model": {"name": name, **params}})
    flipped = dataclasses.replace(calc.system, coupling_ux=-calc.system.coupling_ux)
    a = integrate(calc.system, calc.grid, Occupation(2)).values
    b = integrate(flipped, calc.grid, Occupation(2)).values
    for key in ("born_a", "born_b", "energy", "total"):
        assert b[key] == pytest.approx(-a[key], rel=1e-12, abs=1e-14 * abs(a["total"]))
