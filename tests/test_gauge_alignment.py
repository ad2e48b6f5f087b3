"""Gauge alignment of displaced Wannier runs (issue 11, docs/gauge.md).

* a discrete gauge change (permutation x phases x lattice translations) of the displaced
  runs is undone exactly: every chi term and the Born charges equal those of the
  unscrambled runs (the independent reference) to 1e-6, for WFs that all share one
  site and for sites carrying degenerate p shells, in 2D and 3D;
* a continuous rotation within a site is ambiguous: it is applied, the removed
  rotation-like component is estimated and every chi term gets an uncertainty that
  covers the true error; above [wannier] max_gauge_uncertainty the run is refused.
"""

import numpy as np
import pytest
from gauge_models import Scramble, kramers_model, make_real, p_shell_model, single_site_model, write_runs

import wanphonon
from wanphonon.errors import ModelMismatchError

DISPLACED = ("xp", "xm", "yp", "ym")


def run(folder, tb, scrambles=None, mesh=(12, 12, 1), extra="", delta=1e-3, spinors=False):
    return wanphonon.run(write_runs(str(folder), tb, delta, scrambles, mesh=mesh, extra=extra,
                                    spinors=spinors))


CASES = {
    # strong response: 0.02 A displacements of a model with dH/du ~ H per A
    "p_shells_2d_large_u": (lambda: make_real(p_shell_model(5, dim=2)), True, 2, (10, 10, 1), 2e-2),
    # the user's case: three WFs on one site, permutation and phases per run, no rotation
    "one_site": (lambda: single_site_model(0), False, 2, (12, 12, 1), 1e-3),
    "one_site_translated": (lambda: single_site_model(1, n=4), True, 2, (12, 12, 1), 1e-3),
    "p_shells_2d": (lambda: make_real(p_shell_model(2, dim=2)), True, 2, (10, 10, 1), 1e-3),
    "p_shells_3d": (lambda: make_real(p_shell_model(3, dim=3)), True, 3, (6, 6, 6), 1e-3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_discrete_scramble_is_undone_exactly(tmp_path, case):
    build, translate, dim, mesh, delta = CASES[case]
    tb = build()
    rng = np.random.default_rng(7)
    scr = {s: Scramble.random(rng, tb.num_bands, translate, dim) for s in DISPLACED}
    assert all(not np.array_equal(s.perm, np.arange(tb.num_bands)) for s in scr.values())
    (tmp_path / "clean").mkdir()
    (tmp_path / "scrambled").mkdir()
    ref = run(tmp_path / "clean", tb, mesh=mesh, delta=delta)
    got = run(tmp_path / "scrambled", tb, scr, mesh=mesh, delta=delta)
    for key, value in ref.chi.items():
        assert got.chi[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
    np.testing.assert_allclose(got.born_charge, ref.born_charge, rtol=1e-6, atol=1e-10)
    gauge = got.gauge
    assert gauge["exact"] and not gauge["rotated_runs"]
    assert all(v == 0.0 for v in gauge["chi_uncertainty"].values())
    for seed, s in scr.items():
        rec = gauge["runs"][seed]
        # displaced WF perm[a] is equilibrium WF a: the inverse of the scramble's relabelling
        assert rec["permutation"] == np.argsort(s.perm).tolist()
        assert rec["residual_after_per_A"] < 10 and rec["residual_before_per_A"] > 10
    # the consistent runs are left exactly as they are
    assert all(not r["notes"] and r["permutation"] == list(range(tb.num_bands))
               for r in ref.gauge["runs"].values())


def rotation(n, group, angle, seed=0):
    """A real rotation by ``angle`` within ``group`` (about a random axis for three WFs)."""
    rng = np.random.default_rng(seed)
    k = np.zeros((n, n))
    a = rng.normal(size=(len(group), len(group)))
    k[np.ix_(group, group)] = (a - a.T) / np.linalg.norm(a - a.T) * np.sqrt(2)
    from scipy.linalg import expm
    return expm(angle * k)


def test_rotation_within_a_site_is_applied_and_its_uncertainty_reported(tmp_path, caplog):
    """The p shell of the moving site rotated by 0.5 rad (and the WFs reordered and rephased)."""
    tb = make_real(p_shell_model(2))
    rng = np.random.default_rng(5)
    scr = {}
    for i, s in enumerate(DISPLACED):
        scr[s] = Scramble.random(rng, 6, translate=False)    # (a rotation mixes WFs of one cell)
        shell = np.argsort(scr[s].perm)[:3]          # the shell of site A in the scrambled order
        scr[s].rot = rotation(6, shell, 0.5, seed=i)
    (tmp_path / "clean").mkdir()
    (tmp_path / "rot").mkdir()
    ref = run(tmp_path / "clean", tb, mesh=(10, 10, 1))
    got = run(tmp_path / "rot", tb, scr, mesh=(10, 10, 1), extra="max_gauge_uncertainty = 100.0\n")
    gauge = got.gauge
    assert not gauge["exact"] and sorted(gauge["rotated_runs"]) == sorted(DISPLACED)
    for seed in DISPLACED:
        rot = gauge["runs"][seed]["rotation"]
        assert rot["groups"] == [[0, 1, 2]] and 0.3 < max(rot["angles_rad"]) < 0.7
    assert all(s > 0 for c in gauge["removed_component"].values() for s in c["size_eV_per_A"])
    unc = gauge["chi_uncertainty"]
    err = {k: abs(got.chi[k] - ref.chi[k]) for k in ref.chi}
    # the reported uncertainty covers the true error of the terms the rotation spoils
    for key in ref.chi:
        assert unc[key] > 0 and err[key] <= unc[key], (key, err[key], unc[key])
    assert any("rotation within sites" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    # `wanphonon check` says per run what the alignment does
    from wanphonon.commands.check import check, format_report
    text = format_report(check(str(tmp_path / "rot" / "wanphonon.toml")))
    assert text.count("ROTATION within same-site groups [[0, 1, 2]]") == 4
    # above the (default) limit the run is refused, with the way out
    with pytest.raises(ModelMismatchError, match="max_gauge_uncertainty"):
        run(tmp_path / "rot", tb, scr, mesh=(10, 10, 1), extra="max_gauge_uncertainty = 1e-6\n")


def test_clean_run_with_genuine_rotation_like_response_is_left_alone(tmp_path):
    """A consistent run is never "aligned", even when its response is a rotation on one site."""
    tb = single_site_model(6)
    (tmp_path / "a").mkdir()
    got = run(tmp_path / "a", tb)
    assert got.gauge["exact"]
    assert all(r["phases_rad"] == [0.0] * 3 for r in got.gauge["runs"].values())


def test_kramers_pairs_permuted_rephased_and_translated_are_undone_exactly(tmp_path):
    """Spinor runs (spinors = true): pairs reordered, translated and given one phase each."""
    tb = kramers_model(1)
    rng = np.random.default_rng(2)
    scr = {s: Scramble.random_pairs(rng, 6) for s in DISPLACED}
    (tmp_path / "clean").mkdir()
    (tmp_path / "scrambled").mkdir()
    ref = run(tmp_path / "clean", tb, spinors=True)
    got = run(tmp_path / "scrambled", tb, scr, spinors=True)
    for key, value in ref.chi.items():
        assert got.chi[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
    np.testing.assert_allclose(got.born_charge, ref.born_charge, rtol=1e-6, atol=1e-10)
    assert got.gauge["exact"]


def test_spin_rotation_within_kramers_pairs_is_ambiguous(tmp_path):
    """A U(2) rotation inside each pair (what a spinor re-run may add): aligned within pairs,
    not within the whole site, and reported with an uncertainty that covers the true error."""
    from scipy.stats import unitary_group
    tb = kramers_model(1)
    rng = np.random.default_rng(3)
    scr = {}
    for s in DISPLACED:
        scr[s] = Scramble.random_pairs(rng, 6, translate=False)
        rot = np.eye(6, dtype=complex)
        for p in range(3):
            k = unitary_group.rvs(2, random_state=rng)
            rot[2 * p:2 * p + 2, 2 * p:2 * p + 2] = k
        scr[s].rot = rot
    (tmp_path / "clean").mkdir()
    (tmp_path / "rot").mkdir()
    ref = run(tmp_path / "clean", tb, spinors=True)
    got = run(tmp_path / "rot", tb, scr, spinors=True, extra="max_gauge_uncertainty = 100.0\n")
    gauge = got.gauge
    assert not gauge["exact"]
    assert all(r["rotation"]["kind"] == "Kramers pairs" for r in gauge["runs"].values())
    unc = gauge["chi_uncertainty"]
    for key in ref.chi:
        assert abs(got.chi[key] - ref.chi[key]) <= unc[key], key


def test_phases_of_a_complex_model_are_reported_as_ambiguous(tmp_path):
    """Broken time reversal (complex H(R)): a phase-like part of the response (u-dependent
    orbital phases) cannot be told from a rephasing; the alignment says so and the
    uncertainty covers the difference to the unscrambled runs."""
    tb = single_site_model(0, real=False)
    rng = np.random.default_rng(11)
    scr = {s: Scramble.random(rng, 3, translate=False) for s in DISPLACED}
    (tmp_path / "clean").mkdir()
    (tmp_path / "scrambled").mkdir()
    ref = run(tmp_path / "clean", tb)
    got = run(tmp_path / "scrambled", tb, scr, extra="max_gauge_uncertainty = 100.0\n")
    gauge = got.gauge
    assert not gauge["exact"]
    assert all(r["rotation"]["kind"] == "phases of a complex H(R)" for r in gauge["runs"].values())
    for key in ref.chi:
        assert abs(got.chi[key] - ref.chi[key]) <= gauge["chi_uncertainty"][key], key
    assert ref.gauge["exact"]          # the consistent complex runs are left alone
