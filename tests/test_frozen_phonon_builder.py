"""Wannier90 input end to end: models written as frozen-phonon Wannier90 runs and read back.

* a tight-binding model written as equilibrium + displaced runs gives the numbers of the
  model itself (the exact dH/du, no files) to 1e-10;
* displaced runs whose Wannier functions are reordered and rephased give the result of
  the consistently gauged runs;
* every kind of bad input ends with exit status 2 and one message naming the file.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_tight_binding

import wanphonon
from wanphonon.engine.grids import UniformGrid
from wanphonon.engine.integrate import Occupation, integrate
from wanphonon.io.writers import (displacement_tables, write_centres_xyz, write_frozen_phonon_runs,
                                 write_tb, write_win)
from wanphonon.results import chi_terms
from wanphonon.systems.dirac import graphene_dirac
from wanphonon.systems.lattice_dirac import dirac_lattice

HBN = os.path.join(os.path.dirname(__file__), "..", "examples", "hbn_dft", "wannier")
RUNS = {"xp": (1, 0), "xm": (-1, 0), "yp": (0, 1), "ym": (0, -1)}


def write_runs(folder, tb, delta, positions="wannier", spin=1, n_occ=1, mesh=(24, 24, 1)):
    """Equilibrium and +-delta runs of ``tb`` (exactly linear in u) and their wanphonon.toml."""
    runs = write_frozen_phonon_runs(folder, tb, delta)
    for name in runs:
        write_win(os.path.join(folder, name + ".win"), tb.num_bands, tb.lattice, ["C"], [[0.0, 0.0, 0.0]])
    cfg = os.path.join(folder, "wanphonon.toml")
    with open(cfg, "w") as fh:
        fh.write(f'[wannier]\nseedname = "eq"\npositions = "{positions}"\n{displacement_tables(runs)}'
                 f"[electrons]\noccupied_bands = {n_occ}\nspin_degeneracy = {spin}\n"
                 f"[kmesh]\nsize = {list(mesh)}\n")
    return cfg


def direct(tb, n_occ, mesh=(24, 24, 1)):
    res = integrate(tb, UniformGrid(tb.lattice, mesh), Occupation(n_occ))
    return chi_terms(res.values, 1), res.born_charge


@pytest.mark.parametrize("moving", [False, True])
def test_generic_model_read_back_equals_the_model(tmp_path, moving):
    tb = random_tight_binding(4, 3, 1, gap=5.0, hop=0.3, moving_centres=moving)
    cfg = write_runs(str(tmp_path), tb, 1e-3, positions="wannier" if moving else "fixed")
    result = wanphonon.run(cfg)
    chi, z = direct(tb, 1)
    for key, value in chi.items():
        assert result.chi[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
    area = abs(np.linalg.det(tb.lattice[:2, :2]))
    np.testing.assert_allclose(np.array(result.born_charge), z * area, rtol=1e-10, atol=1e-12)


def test_lattice_dirac_model_read_back(tmp_path):
    tb = dirac_lattice(graphene_dirac(0.3, 0.5, 1.0), a=1.0)
    cfg = write_runs(str(tmp_path), tb, 1e-2, positions="fixed", spin=2, n_occ=2)
    result = wanphonon.run(cfg)
    chi, _ = direct(tb, 2)
    for key in ("born_a", "born_b", "energy", "total"):
        assert result.chi[key] == pytest.approx(2 * chi[key], rel=1e-10)


def scrambled_copy(src, dst, seed):
    """Copy a Wannier90 run with its WFs reordered and rephased (a pure change of gauge)."""
    from wanphonon.io.seed import read_seed
    run = read_seed(src)
    rng = np.random.default_rng(seed)
    n = run.num_wann
    perm = rng.permutation(n)
    ph = np.exp(2j * np.pi * rng.uniform(size=n))
    H = run.H_R[:, perm][:, :, perm] * np.conj(ph)[None, :, None] * ph[None, None, :]
    pos = run.pos_R[:, perm][:, :, perm] * np.conj(ph)[None, :, None, None] * ph[None, None, :, None]
    write_tb(dst + "_tb.dat", run.lattice, run.R, run.ndegen, H * run.ndegen[:, None, None],
             pos * run.ndegen[:, None, None, None], precise=True)
    write_centres_xyz(dst + "_centres.xyz", run.centres[perm], run.atoms_symbols, run.atoms_positions)
    return perm


def hbn_config(folder, seeds, mesh=24, atom="B"):
    disp = "".join(f'[[displacement]]\nseedname = "{s}"\nu = {u}\n' for s, u in seeds.items())
    valence = {"B": 3, "N": 5}[atom]
    path = os.path.join(folder, "wanphonon.toml")
    with open(path, "w") as fh:
        fh.write(f'[wannier]\nseedname = "{os.path.join(HBN, "eq")}"\n{disp}'
                 "[electrons]\noccupied_bands = 4\nspin_degeneracy = 2\n"
                 f'[kmesh]\nsize = [{mesh}, {mesh}, 1]\n[phonon]\nspecies = "{atom}"\nvalence = {valence}\n')
    return path


def hbn_seeds(atom, folder=HBN):
    return {os.path.join(folder, f"{atom}_{k}"): [0.01 * s[0], 0.01 * s[1]] for k, s in RUNS.items()}


def test_scrambled_gauge_gives_the_consistent_result(tmp_path):
    ref = wanphonon.run(hbn_config(str(tmp_path), hbn_seeds("B")))
    seeds = {}
    for i, (src, u) in enumerate(hbn_seeds("B").items()):
        dst = str(tmp_path / os.path.basename(src))
        perm = scrambled_copy(src, dst, i)
        assert not np.array_equal(perm, np.arange(5))
        seeds[dst] = u
    got = wanphonon.run(hbn_config(str(tmp_path), seeds))
    for key, value in ref.chi.items():
        assert got.chi[key] == pytest.approx(value, rel=1e-7, abs=1e-9), key
    np.testing.assert_allclose(got.born_charge, ref.born_charge, atol=1e-7)
    report = got.gauge["runs"]      # a discrete change of gauge: undone exactly, no rotation
    assert got.gauge["exact"]
    assert all(not r["unitary_applied"] and r["residual_after_per_A"] < 1 for r in report.values())


@pytest.mark.parametrize("atom, dft", [("B", 2.706873), ("N", -2.706134)])
def test_hbn_born_charge_against_quantum_espresso(tmp_path, atom, dft):
    """The judge of issue 4: in-plane Z* = valence + int Tr Omega_ku (moving centres), vs ph.x."""
    result = wanphonon.run(hbn_config(str(tmp_path), hbn_seeds(atom), atom=atom))
    z = np.array(result.born_charge_total)
    assert z[0, 0] == pytest.approx(dft, rel=0.03)
    assert z[1, 1] == pytest.approx(z[0, 0], rel=1e-4)              # C3 symmetry: isotropic
    assert abs(z[0, 1]) < 1e-4 and abs(z[1, 0]) < 1e-4
    # the acoustic sum rule of the model: Z*_B + Z*_N = 0 is checked through the two cases
    assert result.min_direct_gap == pytest.approx(4.709, abs=2e-3)


# ------------------------------------------------------------------ bad input, via the CLI
def cli(*args):
    return subprocess.run([sys.executable, "-m", "wanphonon.cli", *args], capture_output=True,
                          text=True)


@pytest.fixture
def hbn_copy(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    for name in os.listdir(HBN):
        if name.startswith(("eq", "B_xp", "B_xm", "B_yp", "B_ym")):
            shutil.copy(os.path.join(HBN, name), folder / name)
    return folder


def edit(path, line, new):
    with open(path) as fh:
        lines = fh.read().split("\n")
    lines[line - 1] = new(lines[line - 1])
    open(path, "w").write("\n".join(lines))


def remove(folder, prefix):
    for name in os.listdir(folder):
        if name.startswith(prefix):
            os.remove(folder / name)


def other_model(folder):
    """B_xm replaced by a run of another (4-WF) model."""
    remove(folder, "B_xm")
    cd3as2 = os.path.join(os.path.dirname(__file__), "..", "examples", "cd3as2_dft", "wannier", "xp_tb.dat")
    shutil.copy(cd3as2, folder / "B_xm_tb.dat")


def strained(folder):
    """B_yp with a strained cell in every file of the run."""
    edit(folder / "B_yp_tb.dat", 2, lambda s: s.replace("2.50000", "2.51000", 1))
    remove(folder, "B_yp.win")


def non_hermitian(folder):
    remove(folder, "eq_hr.dat")
    edit(folder / "eq_tb.dat", 30, lambda s: s[:13] + " 0.12345678E+00 " + s[29:])


def other_setting(folder):
    """B_xp Wannierised with fewer iterations than the other runs."""
    edit(folder / "B_xp.win", 9, lambda s: s.replace("200", "100"))


def mislabelled(folder):
    """The files of B_xm (u = -0.01 x) sit under the name B_yp (u = +0.01 y)."""
    for suffix in ("_tb.dat", "_hr.dat", "_wsvec.dat", "_centres.xyz", ".win"):
        shutil.copy(folder / f"B_xm{suffix}", folder / f"B_yp{suffix}")


BAD = {
    "setting": (other_setting, "B_xp.win, line 9: Wannier90 setting 'num_iter' differs"),
    "mislabelled": (mislabelled, "B_yp.win"),
    "truncated": (lambda f: (f / "B_xp_tb.dat").write_text((f / "B_xp_tb.dat").read_text()[:50000]),
                  "B_xp_tb.dat, line 1179"),
    "nan": (lambda f: edit(f / "eq_tb.dat", 30, lambda s: s[:13] + "            NaN " + s[29:]),
            "eq_tb.dat, line 30"),
    "non_hermitian": (non_hermitian, "eq_tb.dat"),
    "missing": (lambda f: remove(f, "B_ym"), "B_ym_tb.dat"),
    "lattice": (strained, "lattice of run 'B_yp'"),
    "num_wann": (other_model, "run 'B_xm' has 4 Wannier functions"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_wannier_input_is_refused_clearly(hbn_copy, tmp_path, case):
    damage, where = BAD[case]
    damage(hbn_copy)
    cfg = hbn_config(str(tmp_path), hbn_seeds("B", str(hbn_copy)), mesh=6)
    text = open(cfg).read().replace(os.path.join(HBN, "eq"), str(hbn_copy / "eq"))
    open(cfg, "w").write(text)
    out = tmp_path / "out"
    proc = cli("run", cfg, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and where in proc.stderr
    assert "fix:" in proc.stderr
    assert not (out / "result.json").exists()


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace("occupied_bands = 4", "occupied_bands = 5"), "occupied_bands"),
    (lambda t: t.replace("occupied_bands = 4", "occupied_bands = 3"), "gap"),
    (lambda t: t.replace("u = [-0.01, 0.0]", "u = [0.01, 0.0]"), "same u"),
    (lambda t: t.replace("u = [-0.01, 0.0]", "u = [0.0, 0.0]"), "equilibrium"),
    (lambda t: t.replace("[kmesh]", "[kmesh\n"), "line"),
])
def test_bad_config_is_refused_clearly(tmp_path, change, words):
    cfg = hbn_config(str(tmp_path), hbn_seeds("B"), mesh=6)
    text = change(open(cfg).read())
    open(cfg, "w").write(text)
    proc = cli("run", cfg, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "result.json").exists()


def test_hbn_example_config_runs(tmp_path):
    proc = cli("run", os.path.join(HBN, "..", "wanphonon.toml"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "result.json").read_text())
    assert r["born_charge_total"][0][0] == pytest.approx(2.706873, rel=0.03)
    assert r["system"]["stencil"]["B"]["fit_degree"] == 4        # +-delta and +-2 delta: fourth order
    assert r["system"]["dH_du_error"]["B"]["richardson_relative"] < 1e-2


# ------------------------------------------------------------------ the phonon mode (issue 4)
def mode_config(folder, c_n):
    src = open(os.path.join(HBN, "..", "mode_Eprime.toml")).read()
    text = src.replace("pattern = { N = -0.771828 }", f"pattern = {{ N = {c_n} }}")
    text = text.replace('"wannier/', f'"{HBN}/').replace("[48, 48, 1]", "[24, 24, 1]")
    path = os.path.join(folder, "mode.toml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_rigid_translation_sum_rule(tmp_path):
    """B and N moved together (an acoustic mode at Gamma) drag all 8 valence electrons per cell
    rigidly: the electronic moment is that of -8 e on the ions' circle, chi A_c = -8, and
    the mode's total Born charge vanishes (acoustic sum rule of the DFT data)."""
    r = wanphonon.run(mode_config(str(tmp_path), 1.0))
    area = r.setting["cell_measure"]
    assert r.chi["total"] * area == pytest.approx(-8.0, rel=2e-3)
    assert abs(r.chi["energy"]) * area < 1e-6 and abs(r.chi["nontopological"]) * area < 1e-6
    assert abs(r.born_charge_total[0][0]) < 0.01


def test_eprime_mode_weight_and_point_charge_estimate(tmp_path):
    r = wanphonon.run(mode_config(str(tmp_path), -0.771828))
    dft = json.load(open(os.path.join(HBN, "..", "dft_born_charges.json")))
    e_b = dft["gamma_phonons"]["E_prime"]["eigenvector_x_mass_weighted"][0][0]
    assert r.moment["mode_weight"] == pytest.approx(e_b ** 2, rel=2e-3)        # ph.x eigenvector
    z = {k: np.array(v["total"])[0, 0] for k, v in r.born_charge_per_ion.items()}
    assert z["B"] + z["N"] == pytest.approx(0.0, abs=0.01)                     # acoustic sum rule
    w = r.moment["mode_weight"]
    expected = w * (z["B"] + z["N"] * 0.771828 ** 2)
    assert r.moment["point_charge_estimate"]["ionic_magneton"] == pytest.approx(expected, rel=1e-4)


def test_whole_mode_runs_equal_per_ion_runs(tmp_path):
    """u_N = c u_B: runs moving both ions at once and runs moving one ion at a time give one answer."""
    tb_b = random_tight_binding(6, 3, 1, gap=5.0, hop=0.3, moving_centres=True)
    tb_n = random_tight_binding(7, 3, 1, gap=5.0, hop=0.3, moving_centres=True)
    c, delta = -0.6, 1e-3
    n = tb_b.num_bands
    ones = np.ones(len(tb_b.R), int)
    origin = tuple(np.flatnonzero(~tb_b.R.any(1)))

    def write(name, u_b, u_n):
        H = tb_b.H_R + np.tensordot(u_b, tb_b.dH_R, 1) + np.tensordot(u_n, tb_n.dH_R, 1)
        centres = tb_b.centres + np.tensordot(u_b, tb_b.dcentres, 1) + np.tensordot(u_n, tb_n.dcentres, 1)
        pos = np.zeros(H.shape + (3,), complex)
        pos[origin, np.arange(n), np.arange(n)] = centres
        write_tb(str(tmp_path / f"{name}_tb.dat"), tb_b.lattice, tb_b.R, ones, H, pos, precise=True)

    zero = np.zeros(2)
    write("eq", zero, zero)
    lines = {"mode": "", "ions": ""}
    for key, (sx, sy) in RUNS.items():
        u = delta * np.array([sx, sy], float)
        write(f"mode_{key}", u, c * u)
        write(f"B_{key}", u, zero)
        write(f"N_{key}", zero, u)
        lines["mode"] += f'[[displacement]]\nseedname = "mode_{key}"\nu = {u.tolist()}\nion = "mode"\n'
        lines["ions"] += (f'[[displacement]]\nseedname = "B_{key}"\nu = {u.tolist()}\nion = "B"\n'
                          f'[[displacement]]\nseedname = "N_{key}"\nu = {u.tolist()}\nion = "N"\n')
    results = {}
    for kind, disp in lines.items():
        cfg = tmp_path / f"{kind}.toml"
        cfg.write_text(f'[wannier]\nseedname = "eq"\n{disp}[electrons]\noccupied_bands = 1\nspin_degeneracy = 1\n'
                       f'[kmesh]\nsize = [16, 16, 1]\n[phonon]\nspecies = "B"\npattern = {{ N = {c} }}\n'
                       'valence = { B = 1.5, N = -0.5 }\n')
        results[kind] = wanphonon.run(str(cfg))
    for key, value in results["ions"].chi.items():
        assert results["mode"].chi[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    np.testing.assert_allclose(results["mode"].born_charge, results["ions"].born_charge, atol=1e-10)
    # whole-mode runs add every ion's valence (prepare writes such runs): sum_kappa Z*_kappa C_kappa,
    # the same as per-ion runs, whose per-ion charges combine to it
    mode, ions = results["mode"], results["ions"]
    np.testing.assert_allclose(mode.born_charge_total, ions.born_charge_total, atol=1e-6)
    per_ion = ions.born_charge_per_ion
    by_sum = np.array(per_ion["B"]["total"]) + c * np.array(per_ion["N"]["total"])
    np.testing.assert_allclose(ions.born_charge_total, by_sum, atol=1e-9)
    assert mode.moment["ions"]["ionic_magneton"] == pytest.approx(ions.moment["ions"]["ionic_magneton"],
                                                                 rel=1e-12)
    assert mode.phonon_pattern == ions.phonon_pattern
    m_b, m_n = 10.811, 14.007                     # mode weight from the pattern and ASE masses
    assert results["mode"].setting["mode_weight"] == pytest.approx(m_b / (m_b + m_n * c * c), rel=1e-3)
