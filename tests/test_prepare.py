"""`wanphonon prepare`: displaced structures, Wannier90 inputs and wanphonon.toml from a phonon pair.

hBN: the Gamma E' pair of a spring model in phonopy; graphene: the K-point chiral mode folded
into the sqrt3 x sqrt3 supercell.  The generated files are read back with ASE and with
wanphonon's own readers, and checked with wanphonon.frozen_phonon.consistency as `wanphonon run` would.
"""

import os
import re
import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase import Atoms

from wanphonon.config import load as load_run_config
from wanphonon.frozen_phonon.consistency import check_displacement, check_settings
from wanphonon.errors import ConfigError, ModelMismatchError
from wanphonon.io.win import read_win
from wanphonon.frozen_phonon.mode import MODE_RUN, PhononPattern, pattern_from_config
from wanphonon.prepare import prepare
from wanphonon.prepare.springs import spring_force_constants, spring_phonopy

ROOT = os.path.join(os.path.dirname(__file__), "..")
A_HBN, A_GR, C = 2.50, 2.46, 10.0
THZ = 15.633302          # phonopy: sqrt(eV/A^2/amu) -> THz
K = np.array([1 / 3, 1 / 3, 0.0])
SQRT3 = [[2, 1, 0], [-1, 1, 0], [0, 0, 1]]


def hexagonal(symbols, a):
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, C]]
    return Atoms(symbols, scaled_positions=[[0, 0, 0], [1 / 3, 2 / 3, 0]], cell=cell, pbc=True)


def hbn_shells():
    return [(A_HBN / np.sqrt(3), 20.0, 2.0), (A_HBN, 3.0, 0.5)]


def graphene_shells():
    return [(A_GR / np.sqrt(3), 25.0, 5.0), (A_GR, 4.0, 1.0)]


QE = {"code": "qe", "pseudopotentials": {"B": "B.UPF", "N": "N.UPF", "C": "C.UPF"}, "ecutwfc": 45.0,
      "ecutrho": 360.0, "pseudo_dir": "/pseudo", "system": {"occupations": "fixed"}}
WANNIER_HBN = {"num_wann": 5, "num_bands": 12, "projections": ["N:sp2:x=0,-1,0", "N:pz", "B:pz"],
               "mp_grid": [9, 9, 1], "dis_froz_max": 2.0, "dis_num_iter": 400, "num_iter": 200}


def hbn_config(tmp_path, **mode):
    poscar = tmp_path / "POSCAR"
    ase.io.write(poscar, hexagonal("BN", A_HBN), format="vasp")
    return {"structure": {"file": str(poscar)},
            "mode": {"representative": "B", **mode},
            "displacements": {"delta": 0.01, "second_order": True},
            "dft": QE, "wannier": dict(WANNIER_HBN),
            "wanphonon": {"occupied_bands": 4, "spin_degeneracy": 2, "valence": {"B": 3, "N": 5}}}


@pytest.fixture(scope="module")
def hbn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hbn")
    atoms = hexagonal("BN", A_HBN)
    ph = spring_phonopy(atoms, hbn_shells())
    result = prepare(hbn_config(tmp), str(tmp / "out"), phonon=ph)
    return result, atoms


@pytest.fixture(scope="module")
def graphene(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graphene")
    ph = spring_phonopy(hexagonal("C2", A_GR), graphene_shells())
    cfg = {"structure": {"supercell": SQRT3}, "mode": {"representative": "C1", "qpoint": K.tolist()},
           "displacements": {"delta": 0.01}, "dft": QE,
           "wannier": {"num_wann": 6, "projections": ["C:pz"], "mp_grid": [6, 6, 1]},
           "wanphonon": {"occupied_bands": 3}}
    return prepare(cfg, str(tmp / "out"), phonon=ph)


def strip_atoms(text):
    return re.sub(r"begin atoms_cart.*?end atoms_cart", "", text, flags=re.S)


# --------------------------------------------------------------------------- hBN, Gamma E'
def test_hbn_eprime_pair_pattern_and_weight(hbn):
    result, atoms = hbn
    m_b, m_n = atoms.get_masses()
    info = result.report["mode"]
    assert info["bands"] == [4, 5] and info["degenerate"]
    assert info["frequencies_THz"][0] == pytest.approx(info["frequencies_THz"][1], abs=1e-8)
    assert info["pattern"]["N"] == pytest.approx(-m_b / m_n, abs=1e-6)
    w = m_n / (m_b + m_n)                                    # |e_B|^2 of the E' eigenvector
    assert info["mode_weight"] == pytest.approx(w, rel=1e-10)
    assert info["mode_weight_pair"] == pytest.approx(w, rel=1e-10)
    assert info["representative_ellipticity"] == pytest.approx(1.0, abs=1e-9)   # B moves on a circle
    check = PhononPattern("B", {"B": np.eye(2), "N": -m_b / m_n * np.eye(2)}, {"B": m_b, "N": m_n})
    assert check.mode_weight() == pytest.approx(info["mode_weight"], rel=1e-9)


def test_hbn_point_groups_and_moment_rule(hbn):
    result, _ = hbn
    r = result.report
    assert r["point_group"]["international"] == "-6m2" and r["point_group"]["schoenflies"] == "D3h"
    groups = {x["name"]: x["point_group"]["international"] for x in r["runs"]}
    assert groups["eq"] == "-6m2"
    # B-N bond along y: moving along x breaks every vertical mirror (Cs), along y keeps one (C2v)
    assert groups["xp"] == groups["xm"] == groups["x2p"] == "m"
    assert groups["yp"] == groups["ym"] == groups["y2m"] == "mm2"
    s = r["symmetry"]
    assert s["pair_invariant_under_all"] and s["operations"] == 12
    assert s["out_of_plane_allowed"] and not s["in_plane_allowed"]
    assert np.allclose(np.abs(s["allowed_directions"]), [[0, 0, 1]])
    assert any("WITHOUT symmetry" in w for w in result.warnings)


def test_hbn_pw_inputs_parse_back_and_atoms_move_by_delta(hbn):
    result, atoms = hbn
    m_b, m_n = atoms.get_masses()
    out = result.out_dir
    eq = ase.io.read(os.path.join(out, "eq", "eq.pwi"), format="espresso-in")
    assert np.allclose(eq.positions, atoms.positions, atol=1e-10)
    assert np.allclose(eq.cell[:], atoms.cell[:], atol=1e-10)
    amplitude = {"xp": (1, 0), "xm": (-1, 0), "yp": (0, 1), "ym": (0, -1),
                 "x2p": (2, 0), "x2m": (-2, 0), "y2p": (0, 2), "y2m": (0, -2)}
    assert sorted(result.runs) == sorted(["eq", *amplitude])
    for name, (ax, ay) in amplitude.items():
        text = open(os.path.join(out, name, f"{name}.pwi")).read()
        assert "nosym = .true." in text and "noinv = .true." in text and "nbnd = 12" in text
        assert "K_POINTS crystal\n81\n" in text
        run = ase.io.read(os.path.join(out, name, f"{name}.pwi"), format="espresso-in")
        moved = run.positions - eq.positions
        u = 0.01 * np.array([ax, ay, 0.0])
        assert np.allclose(moved[0], u, atol=1e-11)                      # B: exactly u
        assert np.allclose(moved[1], -m_b / m_n * u, atol=1e-11)         # N: -m_B/m_N u
        ext = ase.io.read(os.path.join(out, name, "structure.extxyz"))
        assert np.allclose(ext.positions, run.positions, atol=1e-10)


def test_hbn_win_files_identical_apart_from_atoms(hbn):
    result, _ = hbn
    out = result.out_dir
    texts = {n: open(os.path.join(out, n, f"{n}.win")).read() for n in result.runs}
    assert len({strip_atoms(t) for t in texts.values()}) == 1
    assert len(set(texts.values())) == len(texts)                    # but the atoms differ
    eq = read_win(os.path.join(out, "eq", "eq.win"))
    s = eq.settings
    for key, value in (("write_hr", "true"), ("write_tb", "true"), ("write_xyz", "true"),
                       ("translate_home_cell", "false"), ("use_ws_distance", "true"),
                       ("shell_list", "1"), ("skip_b1_tests", "true"), ("dis_froz_max", "2.0")):
        assert s[key] == value, key
    assert eq.num_wann == 5 and eq.num_bands == 12 and list(eq.mp_grid) == [9, 9, 1]
    assert eq.blocks["projections"] == WANNIER_HBN["projections"]
    assert len(eq.blocks["kpoints"]) == 81
    assert eq.symbols == ["B", "N"]


def test_hbn_generated_toml_passes_run_checks(hbn):
    result, atoms = hbn
    cfg = load_run_config(result.config_path)           # validates
    ph = cfg.raw["phonon"]
    assert ph["ion"] == "B" and ph["species"] == "B"
    assert ph["mode_weight"] == pytest.approx(result.report["mode"]["mode_weight"], rel=1e-14)
    assert ph["valence"] == {"B": 3, "N": 5}
    assert cfg.raw["electrons"] == {"occupied_bands": 4, "spin_degeneracy": 2}
    assert cfg.raw["kmesh"]["size"] == [48, 48, 1]
    assert [d.ion for d in cfg.displacements] == [MODE_RUN] * 8
    assert [d.u for d in cfg.displacements][:4] == [(0.01, 0.0), (-0.01, 0.0), (0.0, 0.01), (0.0, -0.01)]
    pattern = pattern_from_config(cfg.phonon, {MODE_RUN}, result.config_path)
    eq = read_win(cfg.resolve(cfg.raw["wannier"]["seedname"]) + ".win")
    for d in cfg.displacements:
        run = read_win(cfg.resolve(d.seedname) + ".win")
        check_settings(eq, run)
        check_displacement(eq, run, pattern.moves(np.array(d.u)))
    # the same checks catch a wrong declaration
    run = read_win(cfg.resolve(cfg.displacements[0].seedname) + ".win")
    with pytest.raises(ModelMismatchError):
        check_displacement(eq, run, {"B": np.array([0.01, 0.0])})     # N moved too
    assert result.report["checks"]["win_identical_apart_from_atoms"]


def test_explicit_pattern_gives_the_same_toml_as_phonopy(hbn, tmp_path):
    result, atoms = hbn
    m_b, m_n = atoms.get_masses()
    explicit = prepare(hbn_config(tmp_path, pattern={"N": -m_b / m_n}), str(tmp_path / "out"))
    a, b = (load_run_config(r.config_path).raw["phonon"] for r in (result, explicit))
    assert a["pattern"]["N"] == pytest.approx(b["pattern"]["N"], abs=1e-12)
    assert a["mode_weight"] == pytest.approx(b["mode_weight"], rel=1e-10)
    assert explicit.report["symmetry"]["out_of_plane_allowed"]


def test_qpoints_yaml_route_matches_phonopy_object(hbn, tmp_path, monkeypatch):
    result, atoms = hbn
    ph = spring_phonopy(atoms, hbn_shells())
    monkeypatch.chdir(tmp_path)
    ph.run_qpoints([[0.0, 0.0, 0.0]], with_eigenvectors=True)
    ph.write_yaml_qpoints_phonon()
    cfg = hbn_config(tmp_path, phonopy=str(tmp_path / "qpoints.yaml"))
    from_yaml = prepare(cfg, str(tmp_path / "out"))
    assert from_yaml.report["mode"]["bands"] == [4, 5]
    assert from_yaml.report["mode"]["pattern"]["N"] == pytest.approx(result.report["mode"]["pattern"]["N"],
                                                                     abs=1e-9)


def test_ion_by_ion_runs_with_vasp(tmp_path):
    cfg = hbn_config(tmp_path, pattern={"N": -0.77}, runs="ions")
    cfg["dft"] = {"code": "vasp", "incar": {"ENCUT": 500, "EDIFF": 1e-8}}
    cfg["displacements"] = {"delta": 0.02}
    result = prepare(cfg, str(tmp_path / "out"))
    assert result.runs == ["eq", "B_xp", "B_xm", "B_yp", "B_ym", "N_xp", "N_xm", "N_yp", "N_ym"]
    out = result.out_dir
    eq = ase.io.read(os.path.join(out, "eq", "POSCAR"), format="vasp")
    n_xp = ase.io.read(os.path.join(out, "N_xp", "POSCAR"), format="vasp")
    assert np.allclose(n_xp.positions - eq.positions, [[0, 0, 0], [0.02, 0, 0]], atol=1e-10)
    incar = open(os.path.join(out, "N_xp", "INCAR")).read()
    assert "ISYM = -1" in incar and "LWANNIER90 = .TRUE." in incar and "NBANDS = 12" in incar
    assert re.search(r"^NUM_WANN = 5 ", incar, re.M)              # num_wann of the hBN template: 5
    assert open(os.path.join(out, "N_xp", "KPOINTS")).read().splitlines()[1] == "81"
    cfg_run = load_run_config(result.config_path)
    labels = {d.ion for d in cfg_run.displacements}
    assert labels == {"B", "N"}
    assert all(d.seedname.endswith("/wannier90") for d in cfg_run.displacements)
    pattern = pattern_from_config(cfg_run.phonon, labels, result.config_path)
    eq_win = read_win(os.path.join(out, "eq", "wannier90.win"))
    for d in cfg_run.displacements:
        run = read_win(cfg_run.resolve(d.seedname) + ".win")
        check_settings(eq_win, run)
        check_displacement(eq_win, run, {d.ion: np.array(d.u)})
    assert pattern.matrices["N"] == pytest.approx(-0.77 * np.eye(2))


def test_gpaw_scripts_compile_and_switch_symmetry_off(tmp_path):
    cfg = hbn_config(tmp_path, pattern={"N": -0.77})
    cfg["dft"] = {"code": "gpaw", "ecut": 500.0, "orbitals": {"B": [2], "N": [0, 1, 2, 3]}}
    cfg["wannier"]["exclude_bands"] = "1"
    result = prepare(cfg, str(tmp_path / "out"))
    text = open(os.path.join(result.out_dir, "xp", "xp.py")).read()
    compile(text, "xp.py", "exec")
    assert 'symmetry="off"' in text and "orbitals_ai=[[2], [0, 1, 2, 3]]" in text
    assert "bands=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]" in text     # 13 bands, band 1 excluded


# --------------------------------------------------------------------------- graphene, K point
def test_graphene_k_mode_folds_into_sqrt3_supercell(graphene):
    st, pat = graphene.structure, graphene.pattern
    assert len(st.labels) == 6 and st.labels == ["C1", "C2", "C3", "C4", "C5", "C6"]
    a_sites = [i for i in range(6) if st.prim_index[i] == 0]
    b_sites = [i for i in range(6) if st.prim_index[i] == 1]
    assert a_sites == [0, 2, 4]
    info = graphene.report["mode"]
    assert info["bands"] == [3, 4] and info["degenerate"] and not info["time_reversal_invariant_q"]
    # the chosen member of the E' pair at K moves sublattice A only ...
    for i in b_sites:
        assert np.abs(pat.C[i]).max() < 1e-10
    # ... and every A atom rotates the representative's displacement by a multiple of 120 deg, with
    # the Bloch phase of its lattice point: C (1, i) = exp(s 2 pi i K.n) (1, i), one sign s for all
    circ = np.array([1.0, 1.0j])
    signs = set()
    for i in a_sites:
        c = pat.C[i]
        assert np.allclose(c @ c.T, np.eye(2), atol=1e-10) and np.linalg.det(c) == pytest.approx(1.0)
        ratio = (c @ circ)[0] / circ[0]
        assert np.allclose(c @ circ, ratio * circ, atol=1e-10)
        phase = np.exp(2j * np.pi * K @ st.lattice_point[i])
        signs.add(+1 if abs(ratio - phase) < 1e-9 else -1 if abs(ratio - phase.conjugate()) < 1e-9 else 0)
    assert signs in ({1}, {-1})
    angles = sorted(round(np.degrees(np.arctan2(pat.C[i][1, 0], pat.C[i][0, 0]))) for i in a_sites[1:])
    assert angles == [-120, 120]
    assert pat.weight == pytest.approx(1 / 3, rel=1e-10)       # three A atoms share the mode
    assert graphene.report["mode"]["mode_weight_pair"] == pytest.approx(1 / 3, rel=1e-10)


def test_graphene_folded_pair_is_a_gamma_mode_of_the_supercell(graphene):
    """Independent of phonopy's phase convention: the supercell's own Gamma dynamical matrix."""
    st, pat = graphene.structure, graphene.pattern
    fc = spring_force_constants(st.atoms.positions, st.atoms.cell[:], graphene_shells())
    m = st.masses
    D = np.einsum("ijab,i,j->iajb", fc, 1 / np.sqrt(m), 1 / np.sqrt(m)).reshape(18, 18)
    f_thz = graphene.report["mode"]["frequencies_THz"][0]
    for j in range(2):
        v = (pat.vectors[:, :, j] * np.sqrt(m)[:, None]).ravel()
        w2 = v @ D @ v / (v @ v)
        assert np.linalg.norm(D @ v - w2 * v) < 1e-10 * np.linalg.norm(D @ v)     # an eigenvector
        assert np.sqrt(w2) * THZ == pytest.approx(f_thz, rel=1e-6)
    # at the supercell's Gamma the E' modes of K and K' are four-fold degenerate
    w = np.sqrt(np.abs(np.linalg.eigvalsh(D))) * THZ
    assert np.sum(np.abs(w - f_thz) < 1e-4) == 4


def test_graphene_symmetry_and_files(graphene):
    r = graphene.report
    assert r["point_group"]["international"] == "6/mmm"
    s = r["symmetry"]
    assert not s["pair_invariant_under_all"] and s["operations"] == 72
    assert s["stabiliser_point_group"]["international"] == "-6m2"
    assert s["out_of_plane_allowed"] and not s["in_plane_allowed"]
    eq = read_win(os.path.join(graphene.out_dir, "eq", "eq.win"))
    assert eq.symbols == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert eq.blocks["projections"] == [f"C{i}:pz" for i in range(1, 7)]
    cfg = load_run_config(graphene.config_path)
    ph = cfg.raw["phonon"]
    assert ph["ion"] == "C1" and ph["species"] == "C" and set(ph["pattern"]) == {"C3", "C5"}
    pattern = pattern_from_config(cfg.phonon, {MODE_RUN}, graphene.config_path)
    # labels C1.. are read as carbon: three equal masses on the K-point orbits share the quantum
    assert pattern.mode_weight() == pytest.approx(1 / 3)
    assert ph["mode_weight"] == pytest.approx(1 / 3)
    for d in cfg.displacements:
        run = read_win(cfg.resolve(d.seedname) + ".win")
        check_settings(eq, run)
        check_displacement(eq, run, pattern.moves(np.array(d.u)))


def test_counter_rotating_sublattices_have_no_out_of_plane_moment(tmp_path):
    """Graphene, A counterclockwise and B clockwise (C_B a mirror): inversion forbids M_z."""
    poscar = tmp_path / "POSCAR"
    ase.io.write(poscar, hexagonal("C2", A_GR), format="vasp")
    cfg = {"structure": {"file": str(poscar)},
           "mode": {"representative": "C1", "pattern": {"C2": [[1.0, 0.0], [0.0, -1.0]]}},
           "dft": QE, "wannier": {"num_wann": 2, "projections": ["C:pz"], "mp_grid": [6, 6, 1]}}
    result = prepare(cfg, str(tmp_path / "out"))
    s = result.report["symmetry"]
    assert not s["out_of_plane_allowed"]
    assert any("forbidden" in w for w in result.warnings)


# --------------------------------------------------------------------------- errors and CLI
def test_unknown_keys_are_rejected_with_their_name(tmp_path):
    cfg = hbn_config(tmp_path, pattern={"N": -0.77})
    cfg["mode"]["representativ"] = "B"
    with pytest.raises(ConfigError, match="unknown key 'representativ' in \\[mode\\]"):
        prepare(cfg, str(tmp_path / "a"))
    cfg = hbn_config(tmp_path, pattern={"N": -0.77})
    cfg["wannier"]["dis_froz_maxx"] = 2.0
    with pytest.raises(ConfigError, match="unknown Wannier90 keyword 'dis_froz_maxx'"):
        prepare(cfg, str(tmp_path / "b"))
    cfg = hbn_config(tmp_path, pattern={"N": -0.77})
    cfg["dft"] = {**QE, "ecutwfcc": 40}
    with pytest.raises(ConfigError, match="unknown key 'ecutwfcc' in \\[dft\\]"):
        prepare(cfg, str(tmp_path / "c"))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["wannier"].update(num_wann=4), "ask for 5 Wannier functions but num_wann = 4"),
    (lambda c: c["wannier"].update(write_hr=False), "wanphonon needs write_hr = true"),
    (lambda c: c["wannier"].update(mp_grid=[9, 9, 2]), "must be n1 x n2 x 1"),
    (lambda c: c["dft"].update(system={"nosym": False}), "system.nosym is set by prepare"),
    (lambda c: c["mode"].update(pattern={"B": 1.0}), "names the representative"),
    (lambda c: c["mode"].update(representative="Q"), "no atom is labelled 'Q'"),
])
def test_bad_settings_are_refused(tmp_path, change, message):
    cfg = hbn_config(tmp_path, pattern={"N": -0.77})
    cfg["dft"] = dict(cfg["dft"])
    change(cfg)
    with pytest.raises(ConfigError, match=re.escape(message)):
        prepare(cfg, str(tmp_path / "out"))


def test_out_of_plane_and_non_commensurate_modes_are_refused(tmp_path):
    ph = spring_phonopy(hexagonal("C2", A_GR), graphene_shells())
    cfg = hbn_config(tmp_path)
    cfg["structure"] = {}
    cfg["mode"] = {"representative": "C1", "qpoint": K.tolist()}
    cfg["wannier"] = {"num_wann": 2, "projections": ["C:pz"], "mp_grid": [6, 6, 1]}
    with pytest.raises(ConfigError, match="does not fold to Gamma"):
        prepare(cfg, str(tmp_path / "a"), phonon=ph)
    cfg["structure"] = {"supercell": SQRT3}
    cfg["mode"]["bands"] = [0, 1]                       # the out-of-plane E'' pair at K
    cfg["wannier"]["num_wann"] = 6
    with pytest.raises(ConfigError, match="out of the xy plane"):
        prepare(cfg, str(tmp_path / "b"), phonon=ph)


def wanphonon_cli(*args):
    return subprocess.run([sys.executable, "-m", "wanphonon.cli", *args], capture_output=True, text=True)


def test_cli_prepares_the_examples(tmp_path):
    for example in ("prepare_hbn/prepare.toml", "prepare_hbn/prepare_explicit.toml",
                    "prepare_graphene_K/prepare.toml"):
        out = tmp_path / example.replace("/", "_")
        proc = wanphonon_cli("prepare", os.path.join(ROOT, "examples", example), "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        assert "point group (equilibrium)" in proc.stdout and "M_z is allowed" in proc.stdout
        load_run_config(str(out / "wanphonon.toml"))
    proc = wanphonon_cli("prepare", os.path.join(ROOT, "examples", "prepare_hbn", "prepare.toml"),
                         "--out", str(tmp_path / "prepare_hbn_prepare.toml"))
    assert proc.returncode == 2 and "already there" in proc.stderr and "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 2


def test_cli_reports_config_errors_in_one_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[mode]\nrepresentative = "B"\nfoo = 1\n[dft]\ncode = "qe"\n[wannier]\nnum_wann = 1\n')
    proc = wanphonon_cli("prepare", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "unknown key 'foo' in [mode]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_band_yaml_at_an_equivalent_k_point_gives_the_same_pattern(graphene, tmp_path):
    """band.yaml lists K + G = (-2/3, 1/3, 0): the eigenvectors are brought back to K (full-position
    phases), and the structure (with phonopy's masses) comes from the yaml itself."""
    ph = spring_phonopy(hexagonal("C2", A_GR), graphene_shells())
    ph.run_band_structure([np.array([[-2 / 3, 1 / 3, 0], [0, 0, 0]])], with_eigenvectors=True)
    ph.write_yaml_band_structure(filename=str(tmp_path / "band.yaml"))
    cfg = {"structure": {"supercell": SQRT3},
           "mode": {"representative": "C1", "qpoint": K.tolist(), "phonopy": str(tmp_path / "band.yaml")},
           "dft": QE, "wannier": {"num_wann": 6, "projections": ["C:pz"], "mp_grid": [6, 6, 1]}}
    result = prepare(cfg, str(tmp_path / "out"))
    assert np.allclose(result.pattern.C, graphene.pattern.C, atol=1e-6)
    assert result.pattern.weight == pytest.approx(1 / 3, rel=1e-6)
