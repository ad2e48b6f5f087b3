"""Wannier90 readers (wanphonon.io): round trips, the shipped hBN run, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import helpers_w90 as hw
from wanphonon.errors import InputFormatError
from wanphonon.io.centres import read_centres_xyz
from wanphonon.io.hr import read_hr
from wanphonon.io.seed import read_seed
from wanphonon.io.tb import read_tb
from wanphonon.io.text import parse_fixed_rows
from wanphonon.io.win import read_win
from wanphonon.io.wsvec import apply_ws_shifts, read_wsvec
from wanphonon.units import BOHR_TO_ANGSTROM

HBN = Path(__file__).resolve().parents[1] / "examples" / "hbn_dft" / "wannier"


@pytest.fixture(scope="module")
def model():
    return hw.random_model(0, nw=3)


@pytest.fixture()
def seed(tmp_path, model):
    prefix = tmp_path / "model"
    hw.write_seed(prefix, model, precise=True)
    return prefix


@pytest.fixture()
def hbn(tmp_path):
    """A private copy of the shipped eq run, to be spoiled by the bad-input tests."""
    for f in HBN.glob("eq*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "eq"


def edit_line(path, lineno, func):
    lines = Path(path).read_text().splitlines(keepends=True)
    lines[lineno - 1] = func(lines[lineno - 1])
    Path(path).write_text("".join(lines))


def raises_at(func, path, line=None, *words):
    with pytest.raises(InputFormatError) as err:
        func()
    text = str(err.value)
    assert Path(path).name in text, text
    if line is not None:
        assert f"line {line}:" in text, text
    for w in words:
        assert w in text, text
    return text


def hk(R, H_R, k):
    return np.einsum("kr,rmn->kmn", np.exp(2j * np.pi * k @ R.T), H_R)


# --------------------------------------------------------------------------------------
# round trips with independent writers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("precise", [True, False])
def test_hr_round_trip(tmp_path, model, precise):
    p = tmp_path / "m_hr.dat"
    hw.write_hr(p, model.R, model.ndegen, model.H, precise)
    hr = read_hr(p)
    assert hr.num_wann == 3 and np.array_equal(hr.R, model.R)
    assert np.array_equal(hr.ndegen, model.ndegen)
    if precise:
        assert np.array_equal(hr.H, model.H)
    else:     # (5I5,2F12.6): every number to its 6 printed decimals
        assert np.abs(hr.H.real - model.H.real).max() <= 5e-7 + 1e-12
        assert np.abs(hr.H.imag - model.H.imag).max() <= 5e-7 + 1e-12


@pytest.mark.parametrize("precise", [True, False])
def test_tb_round_trip(tmp_path, model, precise):
    p = tmp_path / "m_tb.dat"
    hw.write_tb(p, model.lattice, model.R, model.ndegen, model.H, model.pos, precise)
    tb = read_tb(p)
    assert np.array_equal(tb.lattice, model.lattice)
    assert np.array_equal(tb.R, model.R) and np.array_equal(tb.ndegen, model.ndegen)
    if precise:
        assert np.array_equal(tb.H, model.H) and np.array_equal(tb.pos, model.pos)
    else:     # E15.8: 0.dddddddd, relative error <= 5e-8
        for a, b in ((tb.H, model.H), (tb.pos, model.pos)):
            for part in (np.real, np.imag):
                assert np.all(np.abs(part(a) - part(b)) <= 5e-8 * np.abs(part(b)) + 1e-300)


def test_fixed_and_stream_routes_agree(tmp_path, model):
    """The Fortran fixed-column decoder gives strtod's values bit for bit."""
    rng = np.random.default_rng(3)
    vals = rng.normal(size=(3000, 2)) * 10.0 ** rng.integers(-12, 3, size=(3000, 2))  # |x| < 1e3
    vals[::5] = 0.0
    vals[::7] *= -1e-9         # prints as -0.000000
    for fmt in ("{:5d}{:5d}{:12.6f}{:12.6f}\n", "{:5d}{:5d}   {} {} \n"):
        text = "".join(fmt.format(i % 9 - 4, i % 4, *(v if "12.6" in fmt else map(hw.fortran_e, v)))
                       for i, v in enumerate(vals)).encode()
        rows = np.frombuffer(text, np.uint8).reshape(len(vals), -1)
        fixed = parse_fixed_rows(rows, 4)
        assert fixed is not None
        ref = np.fromstring(text, sep=" ").reshape(-1, 4)
        assert np.array_equal(fixed, ref) and np.array_equal(np.signbit(fixed), np.signbit(ref))
    # a Fortran D exponent in a fixed-width table is decoded too
    rows = np.frombuffer(b"    1   -0.12345678D+03\n    2    0.10000000d-01\n", np.uint8).reshape(2, -1)
    assert np.array_equal(parse_fixed_rows(rows, 2), [[1, -123.45678], [2, 0.01]])


def test_wsvec_round_trip_and_expansion(tmp_path, model):
    p = tmp_path / "m_wsvec.dat"
    hw.write_wsvec(p, model.R, model.shifts, 3)
    ws = read_wsvec(p, model.R, 3)
    assert ws.use_ws_distance is True
    for (r, m, n), T in model.shifts.items():
        assert np.array_equal(ws.shifts_of(r, m, n), T)
    assert (ws.ndeg > 1).any()     # the model has degenerate images
    H = model.H / model.ndegen[:, None, None]
    R_new, H_new = apply_ws_shifts(model.R, H, ws)
    assert np.array_equal(R_new, np.unique(R_new, axis=0))          # sorted, unique
    k = np.random.default_rng(1).random((6, 3))
    assert np.allclose(hk(R_new, H_new, k), hw.hk_bruteforce(model, k), atol=1e-12)
    # trailing dimensions: the position matrix, component by component
    P = model.pos / model.ndegen[:, None, None, None]
    R_p, P_new = apply_ws_shifts(model.R, P, ws)
    assert np.array_equal(R_p, R_new)
    for c in range(3):
        assert np.allclose(P_new[..., c], apply_ws_shifts(model.R, P[..., c], ws)[1])
    # the weights add up: sum over images of every element is conserved
    assert np.allclose(H_new.sum(0), H.sum(0))


def test_centres_and_win_round_trip(tmp_path, model):
    hw.write_centres(tmp_path / "m_centres.xyz", model.centres, model.symbols, model.atoms)
    c = read_centres_xyz(tmp_path / "m_centres.xyz")
    assert np.allclose(c.centres, model.centres, atol=5e-9)
    assert c.symbols == ["Ga", "As"] and np.allclose(c.atoms, model.atoms, atol=5e-9)
    for kw in ({}, {"bohr": True}, {"frac": True}):
        hw.write_win(tmp_path / "m.win", 3, model.lattice, model.symbols, model.atoms, (4, 4, 1), **kw)
        w = read_win(tmp_path / "m.win")
        assert w.num_wann == 3 and w.num_bands == 5 and list(w.mp_grid) == [4, 4, 1]
        assert np.allclose(w.lattice, model.lattice, atol=1e-10)
        assert w.symbols == ["Ga", "As"] and np.allclose(w.positions, model.atoms, atol=1e-10)
        assert w.settings["use_ws_distance"] == ".true."
        assert w.blocks["projections"] == ["Ga: s", "As: p"]
    assert abs(BOHR_TO_ANGSTROM - 0.529177210903) < 1e-9


def test_read_seed_synthetic(seed, model):
    run = read_seed(seed)
    assert set(run.files) == {"tb", "hr", "wsvec", "centres", "win"}
    assert np.array_equal(run.lattice, model.lattice)
    assert np.allclose(run.centres, model.centres, atol=5e-9)
    assert run.atoms_symbols == ["Ga", "As"]
    R_ws, H_ws, pos_ws = run.with_images()
    origin = int(np.flatnonzero(~R_ws.any(1))[0])
    k = np.random.default_rng(2).random((5, 3))
    assert np.allclose(hk(R_ws, H_ws, k), hw.hk_bruteforce(model, k), atol=1e-12)
    # elements whose minimal image is R itself stay at R = 0; the others moved to R + T
    r0 = len(model.R) // 2
    assert not model.R[r0].any()
    for (r, m, n), T in model.shifts.items():
        if r == r0:
            if not T.any():
                assert H_ws[origin, m, n] == model.H[r0, m, n] / model.ndegen[r0]
            else:
                assert H_ws[origin, m, n] == 0
                j = int(np.flatnonzero((R_ws == T[0]).all(1))[0])
                assert np.isclose(H_ws[j, m, n], model.H[r0, m, n] / len(T))
    assert any(T.any() for (r, m, n), T in model.shifts.items() if r == r0)   # (0,0,-1) images
    # the position matrix gets the same treatment; its R = 0 diagonal are the centres
    assert np.allclose(np.einsum("mmc->mc", pos_ws[origin]).real, model.centres)
    # the run itself holds the file's R list (divided by ndegen); the images are applied by callers
    assert np.array_equal(run.R, model.R) and np.allclose(run.H_R * run.ndegen[:, None, None], model.H)
    R2, H2 = apply_ws_shifts(run.R, run.H_R, run.wsvec)
    assert np.array_equal(R2, R_ws) and np.allclose(H2, H_ws)


def test_read_seed_hr_only_with_win(tmp_path, model):
    prefix = tmp_path / "h"
    hw.write_seed(prefix, model, kinds=("hr", "win"), precise=True)
    run = read_seed(prefix)
    assert run.pos_R is None and run.centres is None
    assert np.allclose(run.lattice, model.lattice, atol=1e-10)
    k = np.random.default_rng(5).random((4, 3))
    R, H, _ = run.with_images()
    assert np.allclose(hk(R, H, k), hw.hk_bruteforce(model, k, use_ws=False), atol=1e-12)


# --------------------------------------------------------------------------------------
# the shipped hBN run (QE 6.7 + Wannier90 3.1)
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def eq():
    return read_seed(HBN / "eq")


def test_hbn_basic(eq):
    assert eq.num_wann == 5 and eq.seedname == "eq"
    assert set(eq.files) == {"tb", "hr", "wsvec", "centres", "win"}
    a1, a2 = eq.lattice[0], eq.lattice[1]
    assert np.isclose(np.linalg.norm(a1), 2.5) and np.isclose(np.linalg.norm(a2), 2.5)
    assert np.isclose(np.degrees(np.arccos(a1 @ a2 / 6.25)), 120.0)
    assert list(eq.mp_grid) == [9, 9, 1] and eq.atoms_symbols == ["B", "N"]
    c = read_centres_xyz(HBN / "eq_centres.xyz")
    assert np.array_equal(eq.centres, c.centres)
    # the position matrix of tb.dat agrees with the centres (8 printed decimals)
    R, H, pos = eq.with_images()
    origin = int(np.flatnonzero(~R.any(1))[0])
    assert np.abs(np.einsum("mmc->mc", pos[origin]).real - c.centres).max() < 1e-7
    idx = {tuple(r): i for i, r in enumerate(R)}
    neg = [idx[tuple(-r)] for r in R]
    assert np.abs(H[neg] - np.conj(np.swapaxes(H, 1, 2))).max() < 1e-12


def test_hbn_tb_not_divided_by_ndegen():
    """tb.dat holds H(R) undivided, like hr.dat (the answer used by read_tb's docstring)."""
    hr, tb = read_hr(HBN / "eq_hr.dat"), read_tb(HBN / "eq_tb.dat")
    big = hr.ndegen > 1
    assert big.any()
    assert np.abs(tb.H - hr.H).max() < 1e-6
    divided = tb.H / tb.ndegen[:, None, None]
    assert np.abs(divided - hr.H)[big].max() > 1e-4


def test_hbn_wsvec_is_minimal_distance():
    """Every listed T minimises |R + T + tau_n - tau_m| (m = first index on the line) over
    the supercell translations, and all minimisers are listed."""
    hr = read_hr(HBN / "eq_hr.dat")
    ws = read_wsvec(HBN / "eq_wsvec.dat", hr.R, 5)
    tau = read_centres_xyz(HBN / "eq_centres.xyz").centres
    lat = read_tb(HBN / "eq_tb.dat").lattice
    grid = np.array([9, 9, 1])
    Ts = np.array([[i, j, k] for i in range(-2, 3) for j in range(-2, 3) for k in range(-1, 2)]) * grid
    for r in range(len(hr.R)):
        for m in range(5):
            for n in range(5):
                d = np.linalg.norm((hr.R[r] + Ts) @ lat + tau[n] - tau[m], axis=1)
                best = {tuple(t) for t in Ts[d < d.min() + 1e-4]}
                assert {tuple(t) for t in ws.shifts_of(r, m, n)} == best


def test_hbn_ws_matters_only_off_the_grid(eq):
    """Independent check: e^{ik.T} = 1 for k on the 9x9 grid (T multiples of the grid), so the
    ws images leave H(k) on the grid unchanged and change it off the grid."""
    hr = read_hr(HBN / "eq_hr.dat")
    ws = read_wsvec(HBN / "eq_wsvec.dat", hr.R, 5)
    H_plain = hr.H / hr.ndegen[:, None, None]
    R_ws, H_ws = apply_ws_shifts(hr.R, H_plain, ws)
    ev = lambda R, H, k: np.linalg.eigvalsh(hk(R, H, k))           # noqa: E731
    g = np.array([[i / 9, j / 9, 0] for i in range(9) for j in range(9)])
    assert np.abs(ev(R_ws, H_ws, g) - ev(hr.R, H_plain, g)).max() < 1e-10
    off = np.array([[0.05, 0.13, 0], [0.5, 0.02, 0], [0.27, 0.61, 0], [1 / 18, 1 / 18, 0]])
    diff = np.abs(ev(R_ws, H_ws, off) - ev(hr.R, H_plain, off)).max(1)
    assert diff.min() > 5e-5 and diff.max() > 2e-4
    # read_seed's H_R (from tb.dat, 8 digits) agrees to the 6 decimals of hr.dat
    gamma = np.zeros((1, 3))
    R_eq, H_eq, _ = eq.with_images()
    assert np.abs(ev(R_eq, H_eq, gamma) - ev(hr.R, H_plain, gamma)).max() < 5e-5
    assert np.abs(ev(R_eq, H_eq, off) - ev(R_ws, H_ws, off)).max() < 5e-5
    # the bands the DFT pipeline computed from hr.dat + wsvec.dat with its own code
    bands = json.loads((HBN / "eq_bands_check.json").read_text())
    k = np.array(bands["path_reduced"])
    assert np.abs(ev(R_ws, H_ws, k) - np.array(bands["wannier_eigenvalues"])).max() < 1e-10


def test_all_shipped_runs_read():
    for win in sorted(HBN.glob("*.win")):
        run = read_seed(HBN / win.stem)
        assert run.num_wann == 5 and run.pos_R is not None


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_missing_files(tmp_path):
    text = raises_at(lambda: read_seed(tmp_path / "nothing"), "nothing_tb.dat", None,
                     "nothing_hr.dat", "write_tb = true", "write_hr = true")
    assert "neither" in text
    raises_at(lambda: read_hr(tmp_path / "x_hr.dat"), "x_hr.dat", None, "not found")
    (tmp_path / "d_hr.dat").mkdir()
    raises_at(lambda: read_hr(tmp_path / "d_hr.dat"), "d_hr.dat", None, "directory")
    (tmp_path / "b_hr.dat").write_bytes(b"header\n\x00\x01\x02")
    raises_at(lambda: read_hr(tmp_path / "b_hr.dat"), "b_hr.dat", 2, "not a text file")


def test_hr_truncated(hbn):
    p = hbn.parent / "eq_hr.dat"
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines[:-10]))
    raises_at(lambda: read_hr(p), p, len(lines) - 9, "ends after", "2275")
    p.write_text("".join(lines[:-1]) + lines[-1][:30])        # cut inside the last line
    raises_at(lambda: read_hr(p), p, len(lines), "expected 7 numbers", "found 6")


def test_hr_extra_data(hbn):
    p = hbn.parent / "eq_hr.dat"
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines) + lines[-1])
    raises_at(lambda: read_hr(p), p, len(lines) + 1, "extra data")
    p.write_text("".join(lines) + "\n\n")                      # trailing blank lines are fine
    read_hr(p)


def test_hr_wrong_num_wann(hbn):
    p = hbn.parent / "eq_hr.dat"
    edit_line(p, 2, lambda s: "           4\n")
    # data start at line 11; row 4 (m = 5) should be m = 1, n = 2 for num_wann = 4
    raises_at(lambda: read_hr(p), p, 15, "m = 1, n = 2", "found m = 5, n = 1", "num_wann = 4")


def test_hr_wrong_nrpts(hbn):
    p = hbn.parent / "eq_hr.dat"
    edit_line(p, 3, lambda s: "          92\n")
    raises_at(lambda: read_hr(p), p, 10, "expected 2 Wigner-Seitz degeneracies", "nrpts = 92")
    edit_line(p, 3, lambda s: "          90\n")
    raises_at(lambda: read_hr(p), p, 10, "more Wigner-Seitz degeneracies than nrpts = 90")


def test_hr_nan_and_garbage(hbn):
    p = hbn.parent / "eq_hr.dat"
    orig = p.read_text()
    edit_line(p, 500, lambda s: s[:37] + "         NaN\n")
    raises_at(lambda: read_hr(p), p, 500, "not a finite number")
    p.write_text(orig)
    edit_line(p, 700, lambda s: s[:25] + "    0.12x456" + s[37:])
    raises_at(lambda: read_hr(p), p, 700, "'0.12x456'")
    p.write_text(orig)
    edit_line(p, 800, lambda s: s[:5] + "  1.5" + s[10:])
    raises_at(lambda: read_hr(p), p, 800, "expected an integer for R2")
    p.write_text(orig)
    edit_line(p, 1000, lambda s: s[:15] + "    2" + s[20:])
    raises_at(lambda: read_hr(p), p, 1000, "expected Wannier indices")


def test_hr_fortran_d_exponent_accepted(hbn):
    p = hbn.parent / "eq_hr.dat"
    ref = read_hr(p)
    # same width (fixed-format route) and free format (stream route); data start at line 11
    def where(line):
        r, k = divmod(line - 11, 25)
        return r, k % 5, k // 5          # (R index, m, n): m runs fastest
    edit_line(p, 300, lambda s: s[:25] + " 0.12345D+01" + s[37:])
    a = read_hr(p)
    assert a.H[where(300)].real == 1.2345
    edit_line(p, 301, lambda s: " ".join(s.split()[:5]) + " -1.5d-3 2.0D0\n")
    b = read_hr(p)
    assert b.H[where(301)] == -1.5e-3 + 2j and b.H[where(300)] == a.H[where(300)]
    mask = np.ones(ref.H.shape, bool)
    mask[where(300)] = mask[where(301)] = False
    assert np.array_equal(b.H[mask], ref.H[mask])


def test_tb_truncated_and_nan(hbn):
    p = hbn.parent / "eq_tb.dat"
    orig = p.read_text()
    lines = orig.splitlines(keepends=True)
    p.write_text("".join(lines[:-3]))
    raises_at(lambda: read_tb(p), p, len(lines) - 2, "ends too early")
    p.write_text(orig)
    edit_line(p, 40, lambda s: s.replace(s.split()[2], "NaN", 1))
    raises_at(lambda: read_tb(p), p, 40, "not a finite number")
    p.write_text(orig)
    edit_line(p, 5, lambda s: "           4\n")      # num_wann 5 -> 4: 16 lines per R block
    raises_at(lambda: read_tb(p), p, 32, "expected 3 numbers", "R1 R2 R3", "num_wann")
    p.write_text(orig)
    edit_line(p, 6, lambda s: "          90\n")
    raises_at(lambda: read_tb(p), p, 13, "more Wigner-Seitz degeneracies than nrpts = 90")


def test_non_hermitian(hbn):
    p = hbn.parent / "eq_tb.dat"
    (hbn.parent / "eq_hr.dat").unlink()       # else the hr/tb cross-check fires first
    # block R = (-6, -3, 0): line 15 is R, 16 is (m, n) = (1, 1), 21 is (1, 2)
    edit_line(p, 21, lambda s: s[:13] + hw.fortran_e(float(s.split()[2]) + 1e-3) + s[28:])
    raises_at(lambda: read_seed(hbn), "eq_tb.dat", None, "not Hermitian", "R = (-6, -3, 0)",
              "m = 1, n = 2")


def test_hr_tb_disagree(hbn):
    p = hbn.parent / "eq_hr.dat"
    edit_line(p, 1200, lambda s: s[:25] + f"{float(s.split()[5]) + 1e-4:12.6f}" + s[37:])
    text = raises_at(lambda: read_seed(hbn), "eq_hr.dat", None, "eq_tb.dat", "disagree")
    assert "1.0e-04" in text or "1.00e-04" in text


def test_num_wann_mismatch(hbn):
    edit_line(hbn.parent / "eq.win", 2, lambda s: "num_wann  = 6\n")
    raises_at(lambda: read_seed(hbn), "eq.win", 2, "num_wann = 6", "eq_tb.dat")


def test_lattice_mismatch(hbn):
    win = hbn.parent / "eq.win"
    text = win.read_text().replace("2.50000000000000     0.0", "2.50100000000000     0.0")
    win.write_text(text)
    raises_at(lambda: read_seed(hbn), "eq.win", None, "lattice", "eq_tb.dat")


def test_win_errors(tmp_path):
    w = tmp_path / "a.win"
    w.write_text("num_wann = 2\nbegin unit_cell_cart\n1 0 0\n0 1 0\n0 0 1\n")
    raises_at(lambda: read_win(w), w, 2, "never closed")
    w.write_text("num_wann = 2\nbegin atoms_frac\nC 0 0 0\nend atoms_frac\n")
    raises_at(lambda: read_win(w), w, 3, "atoms_frac", "unit_cell_cart")
    w.write_text("num_wann = 2\nNum_Wann : 3\n")
    raises_at(lambda: read_win(w), w, 2, "twice")
    w.write_text("num_bands = 2\n")
    raises_at(lambda: read_win(w), w, None, "num_wann", "missing")
    w.write_text("num_wann = 2\nbegin unit_cell_cart\n1 0 0\n0 1\n0 0 1\nend unit_cell_cart\n")
    raises_at(lambda: read_win(w), w, 4, "expected 3 numbers")
    w.write_text("num_wann = 2\nbegin atoms_cart\nC 0 0\nend atoms_cart\n")
    raises_at(lambda: read_win(w), w, 3, "Symbol x y z")
    w.write_text("num_wann = 2\nbegin kpoints\n0 0 0\nend kpath\n")
    raises_at(lambda: read_win(w), w, 4, "closes block 'kpoints'")


def test_wsvec_errors(hbn):
    p = hbn.parent / "eq_wsvec.dat"
    hr = read_hr(hbn.parent / "eq_hr.dat")
    orig = p.read_text()
    edit_line(p, 3, lambda s: "    4\n")                # ndeg 3 -> 4, but 3 shift lines follow
    raises_at(lambda: read_wsvec(p, hr.R, 5), p, None, "announces ndeg = 4")
    p.write_text(orig)
    edit_line(p, 2, lambda s: "   -7   -3    0    1    1\n")
    raises_at(lambda: read_wsvec(p, hr.R, 5), p, 2, "R = (-7, -3, 0)", "not among")
    p.write_text(orig)
    edit_line(p, 7, lambda s: "   -6   -3    0    1    1\n")   # second block for (R, 1, 1)
    raises_at(lambda: read_wsvec(p, hr.R, 5), p, 7, "a second block")


def test_centres_errors(tmp_path, hbn):
    p = hbn.parent / "eq_centres.xyz"
    edit_line(p, 1, lambda s: "     8\n")
    raises_at(lambda: read_centres_xyz(p), p, 10, "file ends too early")
    edit_line(p, 1, lambda s: "     7\n")
    edit_line(p, 4, lambda s: "X  1.0 nan 0.0\n")
    raises_at(lambda: read_centres_xyz(p), p, 4, "not a finite number")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("WANPHONON_BENCH"),
                    reason="benchmark (500 MB file, ~30 s to write): set WANPHONON_BENCH=1")
def test_hr_speed_ten_million_lines(tmp_path):
    """~10^7-line _hr.dat (32 WFs, 9766 R): must parse in a few seconds (prints the time)."""
    nw, nR = 32, 9766
    R = np.stack(np.meshgrid(np.arange(-50, 50), np.arange(-50, 50), np.arange(-1, 1),
                             indexing="ij"), -1).reshape(-1, 3)[:nR]
    idx = np.arange(nR * nw * nw)
    cols = np.empty((len(idx), 7))
    cols[:, :3] = R[idx // (nw * nw)]
    cols[:, 3] = idx % nw + 1
    cols[:, 4] = idx // nw % nw + 1
    cols[:, 5:] = np.random.default_rng(0).normal(size=(len(idx), 2))
    p = tmp_path / "big_hr.dat"
    with open(p, "w") as f:
        f.write(hw.HEADER + f"\n{nw:12d}\n{nR:12d}\n" + hw._ndegen_lines(np.ones(nR, int)))
    with open(p, "ab") as f:
        np.savetxt(f, cols, fmt="%5d%5d%5d%5d%5d%12.6f%12.6f", delimiter="")
    t = time.perf_counter()
    hr = read_hr(p)
    dt = time.perf_counter() - t
    print(f"\nread_hr: {len(idx)} data lines in {dt:.2f} s")
    assert hr.H.shape == (nR, nw, nw) and np.allclose(hr.H[5, 7, 9].real, cols[5 * 1024 + 9 * 32 + 7, 5])
    assert dt < 30
