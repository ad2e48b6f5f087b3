"""A corpus of malformed, mismatched and adversarial inputs, each driven through the CLI
(``wanphonon run CONFIG --out DIR``, in-process via ``wanphonon.cli.main``).

Every case ends either in one clear error (exit status 2, ``wanphonon: error:`` naming the
file, the line where one applies, and ``fix:``; no traceback; nothing written to the output
directory) or, where the input is valid after all (Fortran D exponents, a ``.win`` in bohr,
``atoms_frac``, only ``_hr.dat``, a scrambled gauge), in the result of the unmodified runs.

The base runs: a 3-WF model on Wannier90's Wigner-Seitz R list of a 4 x 4 x 1 grid
(``ndegen`` 1, 2 and 4), two WFs on the moving ion C, one on B; equilibrium and +-0.01 A runs
as ``_tb.dat`` (17 digits) with ``.win`` files (mp_grid, atoms).
"""

from __future__ import annotations

import functools
import os
import shutil

import numpy as np
import pytest
from gauge_models import Scramble
from helpers_w90 import SQUARE, write_hr, write_tb, write_win, ws_vectors

from wanphonon.cli import main

RUNS = {"eq": (0, 0), "xp": (1, 0), "xm": (-1, 0), "yp": (0, 1), "ym": (0, -1)}
DELTA = 0.01
MP = (4, 4, 1)
ATOMS = np.array([[0.3, 0.2, 0.0], [1.5, 1.4, 0.0]])          # C (moves), B
SYMBOLS = ["C", "B"]


@functools.lru_cache
def base_model(seed=0):
    """``R, ndegen, F, G, centres, dcentres``: file values F(R) (not divided by ndegen), their
    derivative G(R) (eV/A), centres (A) and d tau/du."""
    rng = np.random.default_rng(seed)
    R, ndegen = ws_vectors(SQUARE, MP)
    n = 3
    index = {tuple(r): i for i, r in enumerate(R)}
    F = np.zeros((len(R), n, n), complex)
    G = np.zeros((2, len(R), n, n), complex)
    for i, r in enumerate(R):
        j = index[tuple(-r)]
        if j < i:
            continue
        decay = np.exp(-np.abs(r).sum()) * ndegen[i]
        f = 0.4 * decay * rng.normal(size=(n, n))
        g = 0.5 * decay * rng.normal(size=(2, n, n))
        if i == j:
            f = f + f.T + np.diag([-3.0, 2.0, 3.0])
            g = g + np.swapaxes(g, 1, 2)
        F[i], F[j] = f, f.T
        G[:, i], G[:, j] = g, np.swapaxes(g, 1, 2)
    centres = np.array([ATOMS[0], ATOMS[0] + [0.0, 0.0, 0.3], ATOMS[1]])
    dcentres = np.zeros((2, n, 3))
    dcentres[0, :2, 0] = dcentres[1, :2, 1] = 1.0
    return R, ndegen, F, G, centres, dcentres


def run_data(seed_name, model=None):
    R, ndegen, F, G, centres, dcentres = model or base_model()
    u = DELTA * np.array(RUNS[seed_name], float)
    H = F + np.tensordot(u, G, 1)
    c = centres + np.tensordot(u, dcentres, 1)
    pos = np.zeros(H.shape + (3,), complex)
    pos[np.flatnonzero(~R.any(1))[0], np.arange(3), np.arange(3)] = c
    atoms = ATOMS.copy()
    atoms[0, :2] += u
    return R, ndegen, H, pos, c, atoms


CONFIG = """[wannier]
seedname = "eq"
{wannier}
[[displacement]]
seedname = "xp"
u = [0.01, 0.0]
[[displacement]]
seedname = "xm"
u = [-0.01, 0.0]
[[displacement]]
seedname = "yp"
u = [0.0, 0.01]
[[displacement]]
seedname = "ym"
u = [0.0, -0.01]
[electrons]
occupied_bands = 1
[kmesh]
size = [6, 6, 1]
[phonon]
species = "C"
"""


def write_base(folder, wannier=""):
    for name in RUNS:
        R, ndegen, H, pos, c, atoms = run_data(name)
        write_tb(str(folder / f"{name}_tb.dat"), SQUARE, R, ndegen, H, pos, True)
        write_win(str(folder / f"{name}.win"), 3, SQUARE, SYMBOLS, atoms, MP)
    (folder / "wanphonon.toml").write_text(CONFIG.format(wannier=wannier))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The unmodified runs: folder and result (the independent reference of the valid cases)."""
    import wanphonon
    folder = tmp_path_factory.mktemp("base")
    write_base(folder)
    return folder, wanphonon.run(str(folder / "wanphonon.toml"))


@pytest.fixture
def runs(tmp_path, reference):
    folder = tmp_path / "w"
    shutil.copytree(reference[0], folder)
    return folder


# ----------------------------------------------------------------------------- damage
def lines(path):
    return path.read_text().split("\n")


def set_line(path, number, new):
    text = lines(path)
    text[number - 1] = new(text[number - 1])
    path.write_text("\n".join(text))


def first_data_line(path):
    """Line number of the first 'm n Re Im' line of a _tb.dat (blank line, R line, data)."""
    text = lines(path)
    return next(i for i in range(6, len(text)) if not text[i].strip()) + 3


def set_token(path, number, index, value):
    """Token ``index`` of line ``number`` replaced by ``value``."""
    set_line(path, number, lambda s: " ".join(value if i == index else t
                                              for i, t in enumerate(s.split())))


def rewrite_tb(folder, name, **change):
    R, ndegen, H, pos, c, atoms = run_data(name)
    data = {"R": R, "ndegen": ndegen, "H": H, "pos": pos, "lattice": SQUARE, **change}
    write_tb(str(folder / f"{name}_tb.dat"), data["lattice"], data["R"], data["ndegen"], data["H"],
             data["pos"], True)


def cfg_edit(old, new):
    def damage(f):
        path = f / "wanphonon.toml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new, 1))
    return damage


def drop_pair(f):
    """R and -R of one boundary vector removed (nrpts and ndegen adjusted): the Wigner-Seitz
    weights no longer add up to the 16 k-points of mp_grid."""
    R, ndegen, H, pos, *_ = run_data("eq")
    r = int(np.flatnonzero((R == [2, 0, 0]).all(1))[0])
    keep = ~((R == R[r]).all(1) | (R == -R[r]).all(1))
    rewrite_tb(f, "eq", R=R[keep], ndegen=ndegen[keep], H=H[keep], pos=pos[keep])


def duplicate_r(f):
    R, ndegen, H, pos, *_ = run_data("eq")
    R = R.copy()
    r0 = int(np.flatnonzero(~R.any(1))[0])
    R[r0 + 1] = R[r0]
    rewrite_tb(f, "eq", R=R)


def non_hermitian(f):
    R, ndegen, H, pos, *_ = run_data("eq")
    H = H.copy()
    H[np.flatnonzero((R == [1, 0, 0]).all(1))[0], 0, 1] += 0.05
    rewrite_tb(f, "eq", H=H)


def hr_disagrees(f):
    R, ndegen, H, *_ = run_data("eq")
    H = H.copy()
    H[0, 1, 2] += 1e-3
    write_hr(str(f / "eq_hr.dat"), R, ndegen, H, True)


def wsvec_of_other_run(f):
    from helpers_w90 import random_model, write_wsvec
    other = random_model(1, nw=3, mp=(3, 3, 1))
    write_wsvec(str(f / "xp_wsvec.dat"), other.R, other.shifts, 3)


def centres_xyz(f, name="eq", count=3, scale=1.0):
    from helpers_w90 import write_centres
    c = run_data(name)[4] * scale
    write_centres(str(f / f"{name}_centres.xyz"), c[:count], SYMBOLS, run_data(name)[5])


def win(name, **kw):
    def damage(f):
        atoms = run_data(name)[5]
        write_win(str(f / f"{name}.win"), 3, SQUARE, SYMBOLS, atoms, kw.pop("mp", MP), **kw)
    return damage


def moved_wrong(f):
    atoms = run_data("xp")[5].copy()
    atoms[1, 1] += 0.01                     # B moved too
    write_win(str(f / "xp.win"), 3, SQUARE, SYMBOLS, atoms, MP)


def strained(f):
    lat = SQUARE.copy()
    lat[0, 0] = 2.45
    rewrite_tb(f, "yp", lattice=lat)
    write_win(str(f / "yp.win"), 3, lat, SYMBOLS, run_data("yp")[5], MP)


def gap_closing(f):
    """A 2-band model whose gap closes at Gamma (on the 6 x 6 mesh):
    H(k) = (2 - cos kx - cos ky) sz + sin kx sx + sin ky sy."""
    sz, sx, sy = np.diag([1.0, -1.0]), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]])
    R = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
    H = np.array([2 * sz, -sz / 2 + sx / 2j, -sz / 2 - sx / 2j, -sz / 2 + sy / 2j, -sz / 2 - sy / 2j],
                 complex)
    G = np.zeros_like(H)
    G[0] = [[0.0, 0.3], [0.3, 0.0]]
    for name, (sxx, syy) in RUNS.items():
        pos = np.zeros(H.shape + (3,), complex)
        h = H + DELTA * (sxx + syy) * G
        write_tb(str(f / f"{name}_tb.dat"), SQUARE, R, np.ones(5, int), h, pos, True)
        for ext in (".win",):
            os.remove(f / f"{name}{ext}")
    cfg_edit('[wannier]\nseedname = "eq"\n', '[wannier]\nseedname = "eq"\npositions = "fixed"\n')(f)
    cfg_edit("occupied_bands = 1", "occupied_bands = 1\nspin_degeneracy = 1")(f)    # no .win to say


def fortran_d(f):
    path = f / "eq_tb.dat"
    path.write_text(path.read_text().replace("E+", "D+").replace("E-", "d-"))


def in_bohr(f):
    for name in RUNS:
        write_win(str(f / f"{name}.win"), 3, SQUARE, SYMBOLS, run_data(name)[5], MP, bohr=True)


def atoms_frac(f):
    for name in RUNS:
        write_win(str(f / f"{name}.win"), 3, SQUARE, SYMBOLS, run_data(name)[5], MP, frac=True)


def hr_only(f):
    for name in RUNS:
        R, ndegen, H, *_ = run_data(name)
        write_hr(str(f / f"{name}_hr.dat"), R, ndegen, H, True)
        os.remove(f / f"{name}_tb.dat")
    cfg_edit('[wannier]\nseedname = "eq"\n', '[wannier]\nseedname = "eq"\npositions = "fixed"\n')(f)
    cfg_edit("occupied_bands = 1", "occupied_bands = 1\nspin_degeneracy = 1")(f)    # no .win to say


def scrambled(f):
    """Every displaced run reordered, rephased and translated (a valid, differently gauged run)."""
    rng = np.random.default_rng(3)
    for name in ("xp", "xm", "yp", "ym"):
        R, ndegen, H, pos, c, atoms = run_data(name)
        s = Scramble.random(rng, 3, translate=True)
        R2, H2, c2 = s.apply(R, H / ndegen[:, None, None], c, SQUARE)
        p2 = np.zeros(H2.shape + (3,), complex)
        p2[np.flatnonzero(~R2.any(1))[0], np.arange(3), np.arange(3)] = c2
        write_tb(str(f / f"{name}_tb.dat"), SQUARE, R2, np.ones(len(R2), int), H2, p2, True)
        os.remove(f / f"{name}.win")          # its mp_grid no longer fits the extended R list


def rotated_shell(f):
    """Another model (a degenerate p shell on the moving site) whose displaced runs are rotated
    by 0.5 rad within the shell: aligned, but ambiguous beyond the default uncertainty limit."""
    from gauge_models import make_real, p_shell_model, write_runs
    from scipy.linalg import expm
    for p in f.iterdir():
        p.unlink()
    rng = np.random.default_rng(5)
    scr = {}
    for name in ("xp", "xm", "yp", "ym"):
        s = Scramble.random(rng, 6, translate=False)
        k = np.zeros((6, 6))
        shell = np.argsort(s.perm)[:3]
        a = rng.normal(size=(3, 3))
        k[np.ix_(shell, shell)] = 0.5 * (a - a.T) / np.linalg.norm(a - a.T) * np.sqrt(2)
        s.rot = expm(k)
        scr[name] = s
    write_runs(str(f), make_real(p_shell_model(2)), 1e-3, scr, mesh=(6, 6, 1))


def garbage_2gb(f):
    path = f / "xm_tb.dat"
    with open(path, "wb") as fh:
        fh.write(np.random.default_rng(0).bytes(4096))
        fh.truncate(2 ** 31)                  # sparse: 2 GB on paper, nothing on disk


def symlink_loop(f):
    os.remove(f / "ym_tb.dat")
    os.symlink(f / "ym_tb.dat", f / "ym_tb.dat")


def out_is_a_file(f):
    (f / "taken").write_text("a file, not a directory\n")


def result_exists(f):
    (f / "out").mkdir()
    (f / "out" / "result.json").write_text("{}\n")


# case -> (damage, expected words in the message (file, line, ...)) or "valid"
CASES = {
    "empty_tb": (lambda f: (f / "eq_tb.dat").write_text(""), ["eq_tb.dat, line 1", "ends too early"]),
    "truncated_tb": (lambda f: (f / "xp_tb.dat").write_text((f / "xp_tb.dat").read_text()[:3000]),
                     ["xp_tb.dat, line", "truncated"]),
    "nan": (lambda f: set_token(f / "eq_tb.dat", first_data_line(f / "eq_tb.dat"), 2, "NaN"),
            ["eq_tb.dat, line 11", "not a finite number"]),
    "inf": (lambda f: set_token(f / "yp_tb.dat", first_data_line(f / "yp_tb.dat") + 1, 3, "-Infinity"),
            ["yp_tb.dat, line 12", "not a finite number"]),
    "text_in_numbers": (lambda f: set_token(f / "eq_tb.dat", first_data_line(f / "eq_tb.dat"), 2, "0.5X-3"),
                        ["eq_tb.dat, line 11", "expected a number"]),
    "num_wann_header": (lambda f: set_line(f / "eq_tb.dat", 5, lambda s: "           4"),
                        ["eq_tb.dat, line", "fix:"]),
    "nrpts_header": (lambda f: set_line(f / "eq_tb.dat", 6, lambda s: "          30"),
                     ["eq_tb.dat, line", "Wigner-Seitz degeneracies"]),
    "duplicated_R": (duplicate_r, ["eq_tb.dat, line", "appears twice", "write_tb"]),
    "missing_R_ws_sum": (drop_pair, ["eq_tb.dat, line 7", "Wigner-Seitz weights", "mp_grid"]),
    "non_hermitian": (non_hermitian, ["eq_tb.dat", "not Hermitian"]),
    "hr_tb_disagree": (hr_disagrees, ["eq_hr.dat", "disagree"]),
    "wsvec_other_run": (wsvec_of_other_run, ["xp_wsvec.dat, line", "same Wannier90 run"]),
    "centres_count": (lambda f: centres_xyz(f, count=2), ["eq_centres.xyz", "num_wann = 3"]),
    "centres_in_bohr": (lambda f: centres_xyz(f, scale=1 / 0.529177210903),
                        ["eq_centres.xyz, line", "position matrix", "in bohr"]),
    "win_num_wann": (lambda f: set_line(f / "ym.win", 2, lambda s: "NUM_WANN = 4"),
                     ["ym.win, line 2", "num_wann = 4"]),
    "win_unclosed_block": (lambda f: (f / "xp.win").write_text(
        (f / "xp.win").read_text().replace("end projections", "")), ["xp.win, line", "never closed"]),
    "mp_grid_differs": (win("xm", mp=(4, 4, 2)), ["xm_tb.dat", "Wigner-Seitz weights"]),
    "cell_differs": (strained, ["lattice of run 'yp'"]),
    "ions_moved_otherwise": (moved_wrong, ["xp.win, line", "atom 2 (B) moved", "fix:"]),
    "spinor_mixed": (lambda f: (f / "xp.win").write_text((f / "xp.win").read_text()
                                                         + "spinors = true\n"),
                     ["xp.win", "'spinors' differs"]),
    "zero_displacement": (cfg_edit("u = [0.01, 0.0]", "u = [0.0, 0.0]"), ["equilibrium"]),
    "huge_displacement": (cfg_edit("u = [0.01, 0.0]", "u = [1.89, 0.0]"), ["|u| = 1.89 A", "Angstrom"]),
    "fermi_in_band": (cfg_edit("occupied_bands = 1", "fermi_energy = 2.0"), ["Fermi energy", "gap"]),
    "occupied_out_of_range": (cfg_edit("occupied_bands = 1", "occupied_bands = 3"),
                              ["occupied_bands = 3", "wanphonon.toml"]),
    "occupied_zero": (cfg_edit("occupied_bands = 1", "occupied_bands = 0"), ["at least 1"]),
    "gap_closed_at_gamma": (gap_closing, ["gap", "k ="]),
    "toml_type": (cfg_edit("size = [6, 6, 1]", 'size = "six"'), ["wanphonon.toml", "wrong type"]),
    "toml_unknown_key": (cfg_edit("occupied_bands = 1", "occupied_band = 1"),
                         ["unknown key 'occupied_band'", "allowed keys"]),
    "toml_syntax": (cfg_edit("[kmesh]", "[kmesh"), ["wanphonon.toml, line"]),
    "missing_run": (lambda f: os.remove(f / "ym_tb.dat"), ["ym_tb.dat", "write_tb"]),
    "out_not_writable": (out_is_a_file, ["taken", "output directory"]),
    "result_exists": (result_exists, ["result.json", "--overwrite"]),
    "symlink_loop": (symlink_loop, ["ym_tb.dat", "symbolic links", "back to itself"]),
    "garbage_2gb": (garbage_2gb, ["xm_tb.dat, line", "not a text file"]),
    "gauge_rotation_ambiguous": (rotated_shell, ["wanphonon.toml", "max_gauge_uncertainty"]),
    # valid inputs: the result of the unmodified runs
    "fortran_d_exponents": (fortran_d, "valid"),
    "win_in_bohr": (in_bohr, "valid"),
    "win_atoms_frac": (atoms_frac, "valid"),
    "hr_only_fixed_positions": (hr_only, "valid fixed"),
    "scrambled_gauge": (scrambled, "valid"),
}
OUT = {"out_not_writable": "taken/sub"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_corpus(case, runs, reference, capsys):
    damage, expected = CASES[case]
    damage(runs)
    out = runs / OUT.get(case, "out")
    code = main(["run", str(runs / "wanphonon.toml"), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    if isinstance(expected, str):
        assert code == 0, err
        import json
        got = json.loads((out / "result.json").read_text())
        assert got["gauge"]["exact"]
        if expected == "valid":
            for key, value in reference[1].chi.items():
                assert got["chi"][key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
        else:       # without centres: the same H(R) and dH/du, the positions held fixed
            assert got["system"]["positions"] == "fixed" and got["gauge"]["exact"]
        return
    assert code == 2, err
    assert err.startswith("wanphonon: error: ") and err.count("wanphonon: error:") == 1, err
    for words in expected:
        assert words in err, (words, err)
    assert "fix:" in err or case == "gap_closed_at_gamma", err
    if out.is_dir() and case != "result_exists":
        left = [p.name for p in out.rglob("*") if p.is_file()]
        assert not left, left                    # nothing half-written


def test_garbage_fails_fast(runs):
    """The 2 GB sparse file is refused after its first chunk, not after reading it all."""
    import time
    garbage_2gb(runs)
    start = time.perf_counter()
    assert main(["run", str(runs / "wanphonon.toml"), "--out", str(runs / "out"), "-q"]) == 2
    assert time.perf_counter() - start < 5
