"""Adaptive integration ([kmesh] tolerance): closed forms, fine uniform grids, MPI ranks, resume, cutoff.

References are independent of the adaptive integrator: the closed forms of
theory.md sec. 9 (the lattice models tend to the continuum ones as a -> 0,
with corrections of relative order Delta a / v) and the engine's uniform grids,
which converge exponentially for gapped periodic models.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest

import wanphonon
import wanphonon.config
import wanphonon.engine.adaptive as adaptive
from wanphonon.errors import ConfigError

from test_parallel import ENV, MPIEXEC, ROOT, assert_same, cli, needs_mpiexec, result

D, Z, V = 0.05, 0.5, 1.0          # graphene: mass (eV), coupling (eV/A), velocity (eV A)


def graphene(a, tolerance, **kmesh):
    return {"model": {"name": "graphene_dirac_lattice", "delta": D, "zeta": Z, "v": V, "a": a},
            "kmesh": {"size": [8, 8, 1], "tolerance": tolerance, **kmesh}}


def test_rule_is_exact_to_degree_seven_with_embedded_degrees_five_three_one():
    for d in (2, 3):
        rule = adaptive.GenzMalik.build(d)
        for degree in range(9):
            for i in range(degree + 1):
                powers = np.zeros(d, int)
                powers[0], powers[1] = i, degree - i
                f = np.prod(rule.nodes ** powers, axis=1)
                mean = np.prod([0.0 if p % 2 else 1 / (p + 1) for p in powers])   # over [-1, 1]^d
                odd = bool(i % 2 or degree % 2)              # zero by symmetry for every rule
                for w, exact_to in ((rule.w7, 7), (rule.w5, 5), (rule.w3, 3), (rule.w1, 1)):
                    assert (abs(w @ f - mean) < 1e-13) == (degree <= exact_to or odd), (d, powers, exact_to)
        # the null rules vanish on polynomials of degree 5, 3, 1 and have no weight on other points
        assert np.allclose(rule.null_rules().sum(axis=1), 0.0, atol=1e-14)
        assert set(np.flatnonzero(rule.w3)) == {0, *rule.axis_points[:, :2].ravel()}


def _lorentzian_tiling(d, n, kappa=0.05, shift=0.013):
    """Q7, exact integral and error estimate per cell of f = prod_i 1/(x_i^2 + kappa^2) on an
    n^d tiling of [-1, 1]^d (peak off the cell centres); closed form prod_i [atan(x/kappa)/kappa]."""
    rule = adaptive.GenzMalik.build(d)
    c1 = np.linspace(-1, 1, n + 1)[:-1] + 1 / n + shift
    centres = np.stack(np.meshgrid(*[c1] * d, indexing="ij"), -1).reshape(-1, d)
    h = 1 / n
    f = np.prod(1 / ((centres[:, None, :] + h * rule.nodes[None]) ** 2 + kappa ** 2), axis=-1)
    vol = (2 * h) ** d
    primitive = np.arctan((centres[:, :, None] + np.array([h, -h])) / kappa) / kappa
    exact = np.prod(primitive[..., 0] - primitive[..., 1], axis=1)
    return f @ rule.w7 * vol, exact, rule.error((rule.null_rules() @ f.T) * vol)


def test_null_rule_estimate_bounds_the_error_of_a_near_singular_integrand():
    """Closed form: a product Lorentzian (width 0.05 of a box of width 2).  Summed over a tiling,
    the estimate is above the actual error on every tiling, from 4 x 4 (2D, relative error 1e-4)
    and 8^3 (3D, 4e-2) to 64 x 64 (3e-8) and 32^3 (8e-6), and every cell is honest while the
    relative error is above 1e-6.  Coarse tilings that do not resolve the peak (1-3 cells per
    side in 2D, 1-4 in 3D: relative errors up to 1e2) stay honest in total (the |Q7 - Q5| floor
    of unresolved cells).  All null values zero (a polynomial of degree 3): estimate zero."""
    for d, sizes in ((2, (1, 2, 3)), (3, (1, 2, 3, 4))):
        for n in sizes:
            q7, exact, est = _lorentzian_tiling(d, n)
            assert abs(q7.sum() - exact.sum()) <= est.sum(), (d, n)
    for d, sizes in ((2, (4, 8, 16, 32, 64)), (3, (8, 16, 32))):
        rule = adaptive.GenzMalik.build(d)
        for n in sizes:
            q7, exact, est = _lorentzian_tiling(d, n)
            actual = abs(q7.sum() - exact.sum())
            assert actual <= est.sum(), (d, n)
            if actual > 1e-6 * exact.sum():
                assert np.all(np.abs(q7 - exact) <= est), (d, n)
        assert rule.error(np.zeros((3, 4))).tolist() == [0.0] * 4


def test_error_estimate_is_honest_against_a_fine_uniform_grid():
    """2D Dirac lattice (a = 1 A): the reported error of chi total is at least the actual error
    against a 384 x 384 uniform grid (converged to ~1e-6 relative: 512 x 512 differs by 6e-7),
    at tolerances 1e-3 and 1e-4, and within the tolerance asked for."""
    u = wanphonon.run({"model": graphene(1.0, None)["model"], "kmesh": {"size": [384, 384, 1]}})
    for tol in (1e-3, 1e-4):
        r = wanphonon.run(graphene(1.0, tol))
        c = r.convergence
        assert c["converged"]
        actual = abs(r.chi["total"] - u.chi["total"])
        assert 2e-6 * abs(u.chi["total"]) < actual <= c["chi_error"]["total"] <= tol * abs(r.chi["total"]), tol


def test_2d_pocket_far_below_the_seed_spacing_against_the_closed_form():
    """a = 0.001 A: the Dirac pocket (|D|/v = 0.05 1/A) is 1e-5 of the zone width; the gap
    criterion must find it from an 8 x 8 seed.  Closed form g z^2 / (4 pi D^2) (lattice
    correction ~1e-4 at this a)."""
    tol = 1e-3
    r = wanphonon.run(graphene(0.001, tol))
    exact = 2 * Z ** 2 / (4 * math.pi * D ** 2)
    c = r.convergence
    assert c["converged"] and c["unresolved_cells"] == 0
    assert r.chi["total"] == pytest.approx(exact, rel=tol)
    assert r.chi["topological"] == pytest.approx(exact, rel=tol)
    assert abs(r.chi["total"] - exact) <= c["chi_error"]["total"] + 2e-4 * exact   # honest estimate
    assert c["levels"][-1]["error_total"] <= tol * abs(r.chi["total"])
    assert c["k_points"] < 20_000
    ks = [lv["k_points"] for lv in c["levels"]]
    assert ks == sorted(ks) and len(ks) > 5


def test_3d_cd3as2_against_a_fine_uniform_grid():
    """kz-integrated Cd3As2 lattice model near its band inversion (Delta0 = -0.02 eV)."""
    model = {"name": "cd3as2_dirac_lattice", "a": 12.633, "c": 25.427, "delta0": -0.02}
    tol = 1e-3
    r = wanphonon.run({"model": model, "kmesh": {"size": [8, 8, 8], "tolerance": tol}})
    u = wanphonon.run({"model": model, "kmesh": {"size": [64, 64, 16]}})   # converged to ~1e-4
    c = r.convergence
    assert c["converged"]
    for key in ("total", "topological", "nontopological", "energy"):
        assert r.chi[key] == pytest.approx(u.chi[key], rel=tol), key
        assert abs(r.chi[key] - u.chi[key]) <= c["chi_error"][key] + 2e-4 * abs(u.chi[key]), key
    assert c["k_points"] < 0.3 * 64 * 64 * 16
    assert 0.04 <= r.min_direct_gap < 0.042       # 2 |Delta0| at Gamma, sampled next to it


def test_adiabatic_cutoff_against_the_closed_form():
    """Gap below E_p excluded: the continuum integral over E > E_p/2 is g z^2 D / (4 pi (E_p/2)^3),
    and the excluded disc k < sqrt((E_p/2)^2 - D^2)/v has area fraction pi k_c^2 (a / 2 pi)^2."""
    a, e_p = 0.001, 0.2
    cfg = graphene(a, 1e-3)
    cfg["phonon"] = {"phonon_energy_meV": 1e3 * e_p, "adiabatic_cutoff": True}
    r = wanphonon.run(cfg)
    exact = 2 * Z ** 2 * D / (4 * math.pi * (e_p / 2) ** 3)
    assert r.chi["total"] == pytest.approx(exact, rel=1.5e-3)      # tolerance + lattice correction
    k_c = math.sqrt((e_p / 2) ** 2 - D ** 2) / V
    fraction = math.pi * k_c ** 2 * (a / (2 * math.pi)) ** 2
    assert r.adiabaticity["excluded_fraction"] == pytest.approx(fraction, rel=0.01)
    assert r.convergence["excluded_measure_fraction"] == r.adiabaticity["excluded_fraction"]


def test_tolerance_is_refused_for_continuum_models():
    with pytest.raises(ConfigError, match="lattice models and Wannier input"):
        wanphonon.api.setup({"model": {"name": "graphene_dirac"}, "kmesh": {"tolerance": 1e-3}})
    with pytest.raises(ConfigError, match="seed"):
        wanphonon.api.setup(graphene(1.0, 1e-3, seed=[8, 8, 2]))


def test_interrupted_run_resumes_to_the_same_answer(tmp_path, monkeypatch):
    cfg = graphene(1.0, 1e-5, batch_size=68)
    real = adaptive.evaluate_cells
    calls = {"n": 0, "die_at": None}

    def wrapped(*args, **kw):
        calls["n"] += 1
        if calls["n"] == calls["die_at"]:
            raise KeyboardInterrupt          # killed in the middle of a level
        return real(*args, **kw)

    monkeypatch.setattr(adaptive, "evaluate_cells", wrapped)
    full = wanphonon.run(cfg, out_dir=str(tmp_path / "full"))
    n_full, calls["n"], calls["die_at"] = calls["n"], 0, 40
    with pytest.raises(KeyboardInterrupt):
        wanphonon.run(cfg, out_dir=str(tmp_path / "cut"))
    assert os.path.exists(tmp_path / "cut" / "checkpoint" / "adaptive.npz")
    calls["n"], calls["die_at"] = 0, None
    resumed = wanphonon.run(cfg, out_dir=str(tmp_path / "cut"), resume=True)
    assert calls["n"] < n_full - 20                  # finished levels were not redone
    for key in full.chi:
        assert resumed.chi[key] == pytest.approx(full.chi[key], rel=1e-12, abs=0)
    assert resumed.convergence["levels"] == full.convergence["levels"]


@pytest.fixture(scope="module")
def adaptive_toml(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adaptive")
    path = tmp / "graphene_adaptive.toml"
    path.write_text('[model]\nname = "graphene_dirac_lattice"\ndelta = 0.05\nzeta = 0.5\nv = 1.0\n'
                    'a = 1.0\n[kmesh]\nsize = [8, 8, 1]\ntolerance = 1e-5\nbatch_size = 68\n')
    proc = cli(str(path), "--out", str(tmp / "serial"))
    assert proc.returncode == 0, proc.stderr
    return str(path), result(tmp / "serial")


@needs_mpiexec
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_mpi_ranks_give_the_serial_answer(tmp_path, adaptive_toml, ranks):
    path, ref = adaptive_toml
    proc = cli(path, "--out", str(tmp_path / "out"), ranks=ranks)
    assert proc.returncode == 0, proc.stderr
    res = result(tmp_path / "out")
    assert res["provenance"]["mpi_ranks"] == ranks
    assert_same(res, ref, rel=1e-12)
    assert res["convergence"]["levels"] == ref["convergence"]["levels"]
    assert len(ref["convergence"]["levels"]) > 5


@needs_mpiexec
def test_sigkill_with_two_ranks_then_serial_resume(tmp_path):
    """A 2-rank run killed (SIGKILL, every rank) after its third level, resumed serially:
    the answer of an uninterrupted serial run (same levels, same numbers)."""
    path = tmp_path / "long.toml"
    path.write_text('[model]\nname = "graphene_dirac_lattice"\ndelta = 0.05\nzeta = 0.5\nv = 1.0\n'
                    'a = 1.0\n[kmesh]\nsize = [8, 8, 1]\ntolerance = 1e-7\nbatch_size = 68\n')
    ref_proc = cli(str(path), "--out", str(tmp_path / "ref"))
    assert ref_proc.returncode == 0, ref_proc.stderr
    ref = result(tmp_path / "ref")
    out = str(tmp_path / "out")
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "wanphonon.cli", "run", str(path), "--out", out, "-q"]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    marker = os.path.join(out, "checkpoint", "adaptive.npz")
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no third level after 60 s"
            if os.path.exists(marker):
                try:
                    with np.load(marker) as data:
                        if len(data["history"]) >= 3:
                            break
                except (OSError, ValueError, KeyError):
                    pass                       # being replaced right now
            time.sleep(0.002)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not os.path.exists(os.path.join(out, "result.json")), "killed too late: run had finished"
    with np.load(marker) as data:
        levels_done = len(data["history"])
    resumed = cli(str(path), "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    res = result(out)
    assert_same(res, ref, rel=1e-12)
    assert res["convergence"]["levels"] == ref["convergence"]["levels"]
    assert 3 <= levels_done < len(ref["convergence"]["levels"])
    assert not os.path.exists(os.path.join(out, "checkpoint"))


def test_refinement_plot_and_cells_file(tmp_path):
    from wanphonon.commands.plots import plots_for
    cfg = graphene(1.0, 1e-3)
    res = wanphonon.run(cfg, out_dir=str(tmp_path))
    with np.load(tmp_path / "adaptive_cells.npz") as f:
        # the final cells tile the zone: their areas add up to 1 (reduced units)
        assert np.prod(2 * f["half"], axis=1).sum() == pytest.approx(1.0, rel=1e-14)
        assert len(f["centres"]) == res.convergence["cells"]
    paths = plots_for(cfg, res, str(tmp_path))
    assert str(tmp_path / "adaptive_refinement.png") in paths
    assert (tmp_path / "adaptive_refinement.png").stat().st_size > 10_000


def test_per_ion_born_charges_on_the_adaptive_cells(tmp_path):
    """hBN's E' mode with runs per ion: the ions' Born charges are integrated on the same cells
    as the mode's, so sum_kappa Z*_kappa C_kappa equals the mode's charge; and it converges to
    the uniform grid's value (exponentially converged by 48 x 48, docs/tutorial.md)."""
    hbn = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "hbn_dft")
    text = open(os.path.join(hbn, "mode_Eprime.toml")).read().replace('"wannier/', f'"{hbn}/wannier/')
    uniform = wanphonon.run(wanphonon.config.from_dict(tomllib.loads(text)))
    cfg = tomllib.loads(text.replace("size = [48, 48, 1]", "size = [48, 48, 1]\ntolerance = 1e-4"))
    r = wanphonon.run(cfg)
    assert r.convergence["converged"]
    z = r.born_charge_per_ion
    c = np.array(r.phonon_pattern["N"])
    combined = np.array(z["B"]["total"]) + np.array(z["N"]["total"]) @ c
    assert np.allclose(combined, r.born_charge_total, atol=1e-10)
    assert r.born_charge_total[0][0] == pytest.approx(uniform.born_charge_total[0][0], rel=1e-4)
    assert z["B"]["total"][0][0] == pytest.approx(uniform.born_charge_per_ion["B"]["total"][0][0], rel=1e-4)
