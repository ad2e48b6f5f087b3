"""All files of one Wannier90 run (one seedname), read, cross-checked and put in one convention.

``read_seed('path/to/seedname')`` uses every file of the run that exists:

==================  ===================================================  ============
file                used for                                             needs
==================  ===================================================  ============
``_tb.dat``         H(R), position matrix r(R), lattice (8 digits)       write_tb
``_hr.dat``         H(R) when there is no tb.dat; else cross-checked     write_hr
``_wsvec.dat``      minimal-image shifts applied to H and r              (with hr/tb)
``_centres.xyz``    Wannier centres (else the diagonal of r(R=0))        write_xyz
``.win``            lattice (if no tb), atoms, mp_grid, settings
==================  ===================================================  ============

The run holds the file's contents (R as listed, values divided by ``ndegen``) and
the ``_wsvec.dat`` minimal-image shifts; the shifts are validated here but not
applied to what is returned: the frozen-phonon builder applies them once, to H(R)
and dH/du(R) together (:meth:`WannierRun.with_images` gives the expanded arrays).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFormatError
from ..units import BOHR_TO_ANGSTROM
from .centres import CentresFile, read_centres_xyz
from .hr import HrFile, read_hr
from .rvectors import r_keys
from .tb import TbFile, read_tb
from .win import WinFile, fortran_bool, read_win
from .wsvec import WsvecFile, apply_ws_shifts, read_wsvec

__all__ = ["WannierRun", "read_seed", "SUFFIXES"]

SUFFIXES = {"tb": "_tb.dat", "hr": "_hr.dat", "wsvec": "_wsvec.dat", "centres": "_centres.xyz",
            "win": ".win"}
HR_TB_TOL = 2e-6          # eV: hr.dat has 6 decimals
LATTICE_TOL = 1e-5        # Angstrom
CENTRE_TOL = 1e-4         # Angstrom: centres.xyz (8 decimals) vs diagonal of r(R=0) in tb.dat
SAME_RUN = "all files must come from the same Wannier90 run; re-run it or fix the seedname"


@dataclass(frozen=True)
class WannierRun:
    """One Wannier90 run in the program's units (eV, Angstrom), as written in its files.

    ``H_R[r, m, n]`` = ``<w_m,0|H|w_n,R[r]>`` / ndegen[r] for the R vectors as listed in
    the hr/tb file; ``pos_R`` likewise for ``<w_m,0|r|w_n,R>`` (Angstrom, ``None``
    without tb.dat).  ``wsvec`` (``None`` without ``_wsvec.dat``) holds Wannier90's
    minimal-image shifts: :func:`~wanphonon.io.wsvec.apply_ws_shifts` maps anything
    on ``R`` onto the expanded list, for which ``H_mn(k) = sum_r H_R[r,m,n]
    exp(2 pi i k.R[r])`` (``k`` in reciprocal-lattice coordinates).
    """

    seedname: str
    files: dict[str, str]            # kind ('tb', 'hr', 'wsvec', 'centres', 'win') -> path
    lattice: np.ndarray              # (3, 3) Angstrom, rows a1..a3
    R: np.ndarray                    # (nR_file, 3) int, as in the hr/tb file
    H_R: np.ndarray                  # (nR_file, N, N) complex eV, / ndegen
    pos_R: np.ndarray | None         # (nR_file, N, N, 3) complex Angstrom, / ndegen
    ndegen: np.ndarray               # (nR_file,) int
    wsvec: WsvecFile | None
    centres: np.ndarray | None       # (N, 3) Angstrom
    atoms_symbols: list[str]
    atoms_positions: np.ndarray | None   # (na, 3) Cartesian Angstrom
    mp_grid: np.ndarray | None       # (3,) int
    win: WinFile | None

    @property
    def num_wann(self) -> int:
        return self.H_R.shape[1]

    def with_images(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(R, H_R, pos_R)`` expanded over the minimal images (R sorted lexicographically)."""
        return _expand(self.R, self.H_R, self.pos_R, self.wsvec)


def _expand(R, H, pos, ws):
    if ws is not None:
        R_new, H_R = apply_ws_shifts(R, H, ws)
        return R_new, H_R, (apply_ws_shifts(R, pos, ws)[1] if pos is not None else None)
    order = np.lexsort(R.T[::-1])
    return R[order], H[order], (pos[order] if pos is not None else None)


def read_seed(prefix) -> WannierRun:
    """Read and cross-check all files of the Wannier90 run ``prefix`` (``path/to/seedname``)."""
    prefix = str(prefix)
    seedname = Path(prefix).name
    # lexists: a dangling link or a link loop is reported by the reader, not taken for "no file"
    files = {k: prefix + s for k, s in SUFFIXES.items() if os.path.lexists(prefix + s)}
    if "tb" not in files and "hr" not in files:
        raise InputFormatError(
            f"no Wannier90 Hamiltonian for seedname '{seedname}': neither {prefix}_tb.dat nor "
            f"{prefix}_hr.dat exists", path=prefix + "_tb.dat",
            fix=f"run Wannier90 with 'write_tb = true' (preferred: also writes the position matrix "
                f"and the lattice) or 'write_hr = true' in {prefix}.win, and check the seedname")
    tb = read_tb(files["tb"]) if "tb" in files else None
    hr = read_hr(files["hr"]) if "hr" in files else None
    win = read_win(files["win"]) if "win" in files else None
    cen = read_centres_xyz(files["centres"]) if "centres" in files else None
    main: TbFile | HrFile = tb if tb is not None else hr
    _check_num_wann(main, hr, win, cen)
    if tb is not None and hr is not None:
        _check_hr_tb(hr, tb)
    src = main.path
    # hr.dat has 6 decimals: H(-R) and H(R)^dagger may differ by two roundings
    tol_abs = 0.0 if tb is not None else 2e-6
    R, ndegen = main.R, main.ndegen
    _check_hermitian(R, main.H / ndegen[:, None, None], src, tol_abs, "")
    lattice = _lattice(tb, win, files)
    mp_grid = win.mp_grid if win is not None else None
    if mp_grid is not None:
        nk = int(np.prod(mp_grid))
        total = float(np.sum(1.0 / ndegen))
        if abs(total - nk) > 1e-6 * nk:
            raise InputFormatError(
                f"the Wigner-Seitz weights do not fit the k grid: sum of 1/ndegen = {total:.6f}, but "
                f"mp_grid = {' '.join(map(str, mp_grid))} in {win.path} has {nk} k-points",
                path=src, line=4 if tb is None else 7, fix=SAME_RUN)
    H = main.H / ndegen[:, None, None]
    pos = tb.pos / ndegen[:, None, None, None] if tb is not None else None
    if not (R == 0).all(1).any():
        raise InputFormatError("R = (0, 0, 0) (the on-site block) is missing", path=src,
                               fix="the file is incomplete; re-create it with Wannier90")
    ws = None
    if "wsvec" in files:
        ws = read_wsvec(files["wsvec"], R, main.num_wann)
        # validation only (shifts of another run break the Hermiticity of H(R)); the
        # builder applies the images once, to H and dH/du together
        _check_hermitian(*_expand(R, H, None, ws)[:2], files["wsvec"], tol_abs,
                         f" after applying the shifts of {files['wsvec']} to {src}")
    centres = _centres(cen, pos, R, lattice, win, files)
    symbols, atoms = _atoms(win, cen)
    return WannierRun(seedname=seedname, files=files, lattice=lattice, R=R, H_R=H, pos_R=pos,
                      ndegen=ndegen, wsvec=ws, centres=centres, atoms_symbols=symbols,
                      atoms_positions=atoms, mp_grid=mp_grid, win=win)


def _check_num_wann(main, hr: HrFile | None, win: WinFile | None, cen: CentresFile | None) -> None:
    others = []
    if hr is not None and hr is not main:
        others.append((hr.path, hr.num_wann, 2))
    if win is not None:
        others.append((win.path, win.num_wann, win.line_of.get("num_wann")))
    if cen is not None:
        others.append((cen.path, len(cen.centres), None))
    for path, n, line in others:
        if n != main.num_wann:
            what = "Wannier centres (lines 'X')" if path.endswith(".xyz") else "num_wann"
            raise InputFormatError(f"{what} = {n} here, but num_wann = {main.num_wann} in "
                                   f"{main.path}", path=path, line=line, fix=SAME_RUN)


def _check_hr_tb(hr: HrFile, tb: TbFile) -> None:
    ka, kb = r_keys(hr.R, tb.R)
    if len(ka) != len(kb) or set(ka.tolist()) != set(kb.tolist()):
        raise InputFormatError(f"the R vectors of {hr.path} ({len(ka)}) and {tb.path} ({len(kb)}) "
                               "differ", path=hr.path, fix=SAME_RUN)
    order = np.argsort(kb)[np.argsort(np.argsort(ka))]     # tb index of each hr R
    if not np.array_equal(hr.ndegen, tb.ndegen[order]):
        r = int(np.argmax(hr.ndegen != tb.ndegen[order]))
        raise InputFormatError(f"the Wigner-Seitz degeneracy of R = {tuple(hr.R[r].tolist())} is "
                               f"{hr.ndegen[r]} here but {tb.ndegen[order][r]} in {tb.path}",
                               path=hr.path, fix=SAME_RUN)
    diff = np.abs(hr.H - tb.H[order])
    if diff.max() > HR_TB_TOL:
        r, m, n = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise InputFormatError(
            f"{hr.path} and {tb.path} disagree: H_mn(R) at R = {tuple(hr.R[r].tolist())}, m = {m + 1}, "
            f"n = {n + 1} is {hr.H[r, m, n]:.6f} eV in the _hr.dat but {tb.H[order][r, m, n]:.8f} eV "
            f"in the _tb.dat (difference {diff[r, m, n]:.2e} eV > {HR_TB_TOL:.0e} eV, the precision "
            "of hr.dat)", path=hr.path, fix=SAME_RUN + " (or delete the stale one of the two)")


def _check_hermitian(R: np.ndarray, H: np.ndarray, path: str, tol_abs: float, context: str) -> None:
    """H(-R) = H(R)^dagger within ``tol_abs + 1e-6 max|H|`` (eV); -R must be present."""
    k, kneg = r_keys(R, -R)
    order = np.argsort(k)
    where = np.minimum(np.searchsorted(k[order], kneg), len(k) - 1)
    found = k[order][where] == kneg
    fix = ("the file is corrupted or does not hold a Hamiltonian (a Hermitian operator); "
           "re-create it with Wannier90")
    if not found.all():
        r = int(np.argmin(found))
        raise InputFormatError(f"H(R) is given for R = {tuple(R[r].tolist())} but not for -R"
                               f"{context}, so it cannot be Hermitian", path=path, fix=fix)
    neg = order[where]
    diff = np.abs(H - np.conj(np.swapaxes(H[neg], 1, 2)))      # |H_mn(R) - conj(H_nm(-R))|
    tol = tol_abs + 1e-6 * float(np.abs(H).max())
    if diff.max() > tol:
        r, m, n = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise InputFormatError(
            f"the Hamiltonian is not Hermitian{context}: H_mn(R) at R = {tuple(R[r].tolist())}, "
            f"m = {m + 1}, n = {n + 1} is {H[r, m, n]:.8g} eV but conj(H_nm(-R)) is "
            f"{np.conj(H[neg[r], n, m]):.8g} eV (difference {diff[r, m, n]:.2e} eV, tolerance "
            f"{tol:.1e} eV; values divided by ndegen)", path=path, fix=fix)


def _lattice(tb: TbFile | None, win: WinFile | None, files: dict[str, str]) -> np.ndarray:
    lat_win = win.lattice if win is not None else None
    if tb is not None:
        if lat_win is not None and np.abs(tb.lattice - lat_win).max() > LATTICE_TOL:
            i, j = np.unravel_index(int(np.argmax(np.abs(tb.lattice - lat_win))), (3, 3))
            raise InputFormatError(
                f"the lattice of {tb.path} differs from unit_cell_cart in {win.path}: component "
                f"{'xyz'[j]} of a{i + 1} is {tb.lattice[i, j]:.8f} A in the _tb.dat but "
                f"{lat_win[i, j]:.8f} A in the .win (tolerance {LATTICE_TOL:.0e} A)",
                path=win.path, line=win.line_of.get("unit_cell_cart"), fix=SAME_RUN)
        return tb.lattice
    if lat_win is None:
        raise InputFormatError(
            "no lattice vectors: there is no _tb.dat and "
            + ("the .win has no unit_cell_cart block" if win is not None else "no .win file"),
            path=files.get("win", files["hr"]),
            fix="run Wannier90 with 'write_tb = true', or put the .win with its unit_cell_cart "
                "block next to the _hr.dat")
    return lat_win


def _centres(cen, pos_R, R, lattice, win, files) -> np.ndarray | None:
    diag = None
    if pos_R is not None:
        r0 = int(np.flatnonzero((R == 0).all(1))[0])
        diag = np.real(np.einsum("mmc->mc", pos_R[r0]))
    translated = win is not None and bool(fortran_bool(win.settings.get("translate_home_cell", "f")))
    if cen is None:
        return diag
    fix = ("set 'translate_home_cell = false' and re-run Wannier90, or remove "
           f"{files['centres']} so that the centres are taken from the position matrix")
    if diag is not None:
        frac = (cen.centres - diag) @ np.linalg.inv(lattice)
        shift = np.round(frac)
        resid = np.abs((frac - shift) @ lattice).max()
        if resid > CENTRE_TOL:
            m = int(np.argmax(np.abs((frac - shift) @ lattice).max(1)))
            in_bohr = np.allclose(cen.centres * BOHR_TO_ANGSTROM, diag, rtol=0, atol=10 * CENTRE_TOL)
            raise InputFormatError(
                f"Wannier centre {m + 1} is {np.round(cen.centres[m], 6).tolist()} A here but the "
                f"diagonal of the position matrix in {files['tb']} puts it at "
                f"{np.round(diag[m], 6).tolist()} A (tolerance {CENTRE_TOL:g} A)"
                + ("; the centres here are those values in bohr" if in_bohr else ""),
                path=files["centres"], line=3 + m,
                fix=SAME_RUN + "; if both files do come from one run, its position matrix is not "
                               "reliable (Wannier functions too spread out for the k grid)")
        if np.any(shift != 0):
            m = int(np.argmax(np.abs(shift).max(1)))
            raise InputFormatError(
                f"Wannier centre {m + 1} is translated by the lattice vector "
                f"{shift[m].astype(int).tolist()} with respect to the position matrix in "
                f"{files['tb']} (translate_home_cell = true?): the R labels of the Hamiltonian "
                "belong to the untranslated centres", path=files["centres"], line=3 + m, fix=fix)
    elif translated:
        raise InputFormatError(
            f"{win.path} sets translate_home_cell = true, so the centres in this file were moved "
            "into the home cell and no longer match the R labels of the Hamiltonian",
            path=files["centres"], fix=fix)
    return cen.centres


def _atoms(win: WinFile | None, cen: CentresFile | None) -> tuple[list[str], np.ndarray | None]:
    if win is not None and win.positions is not None:
        if cen is not None and len(cen.atoms):
            same = (len(cen.atoms) == len(win.positions)
                    and [s.lower() for s in cen.symbols] == [s.lower() for s in win.symbols]
                    and np.abs(cen.atoms - win.positions).max() < 1e-4)
            if not same:
                raise InputFormatError(
                    f"the atoms listed here ({cen.symbols}) do not match the atoms of {win.path} "
                    f"({win.symbols}) in species, order or position (tolerance 1e-4 A)",
                    path=cen.path, fix=SAME_RUN)
        return list(win.symbols), win.positions
    if cen is not None and len(cen.atoms):
        return list(cen.symbols), cen.atoms
    return [], None
