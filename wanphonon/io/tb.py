"""Reader for Wannier90's ``seedname_tb.dat`` (lattice, H(R) and position matrix r(R)).

Layout (Wannier90 3.1, ``hamiltonian_write_tb``)::

    header line (date)
    a1x a1y a1z                         lattice vectors, Angstrom, one per line
    a2x a2y a2z
    a3x a3y a3z
    num_wann
    nrpts
    ndegen(1) ... ndegen(nrpts)         15 per line
    for each R:   (blank line) / R1 R2 R3 / num_wann**2 lines  m n Re(H) Im(H)
    for each R:   (blank line) / R1 R2 R3 / num_wann**2 lines  m n Re(x) Im(x) Re(y) Im(y) Re(z) Im(z)

``m`` runs fastest, then ``n``.  The lines hold ``H_mn(R) = <w_m,0|H|w_n,R>``
(eV) and ``r_mn(R) = <w_m,0|r|w_n,R>`` (Angstrom).

ndegen convention: the values are **not** divided by ``ndegen(R)``, exactly
like ``_hr.dat`` (Wannier90 writes the plain Fourier sum over the k grid).
Checked on the shipped hBN files: ``eq_tb.dat`` and ``eq_hr.dat`` agree to
5e-7 eV (the 6 decimals of hr.dat) on every R, including those with
``ndegen`` = 2 and 3, whereas ``tb/ndegen`` would differ from hr by up to
2.2e-4 eV there; the diagonal of ``r(R=0)`` equals the centres in
``eq_centres.xyz`` to 3e-8 Angstrom (there ``ndegen(0) = 1``).  The position
matrix is written by the same loop without division, so both are returned
undivided, in the same convention as :class:`~wanphonon.io.hr.HrFile`.

Note: Wannier90's finite-difference position matrix is not exactly
Hermitian (``r(-R) != r(R)^dagger`` by ~0.015 Angstrom in the hBN files);
it is returned as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from .hr import check_distinct_R, first_error, first_true, int_columns, read_sizes
from .text import (LineCursor, line_token_counts, parse_fixed_rows, parse_float, parse_stream,
                   read_bytes)

__all__ = ["TbFile", "read_tb", "read_lattice_lines"]

_REWRITE = "re-create the file with Wannier90 (write_tb = true)"


@dataclass(frozen=True)
class TbFile:
    """Content of a ``_tb.dat`` file (values as in the file: not divided by ndegen)."""

    lattice: np.ndarray  # (3, 3) Angstrom, rows a1, a2, a3
    num_wann: int
    R: np.ndarray        # (nR, 3) int
    ndegen: np.ndarray   # (nR,) int
    H: np.ndarray        # (nR, N, N) complex eV, H[r, m-1, n-1] = <m,0|H|n,R>
    pos: np.ndarray      # (nR, N, N, 3) complex Angstrom, <m,0|r|n,R>
    path: str = ""
    header: str = ""


def read_lattice_lines(lines: list[tuple[int, str]], *, path: str, what: str) -> np.ndarray:
    """Three lines of three numbers -> (3, 3) lattice (rows a1..a3), checked finite and non-singular."""
    lat = np.empty((3, 3))
    for i, (n, line) in enumerate(lines):
        toks = line.split()
        if len(toks) != 3:
            raise InputFormatError(f"expected 3 numbers (the Cartesian components of lattice vector "
                                   f"a{i + 1}) in the {what}, found {len(toks)} items",
                                   path=path, line=n)
        for j, t in enumerate(toks):
            lat[i, j] = parse_float(t, path=path, line=n, what=f"component {j + 1} of a{i + 1}")
    scale = np.prod(np.linalg.norm(lat, axis=1))
    if not scale > 0 or abs(np.linalg.det(lat)) < 1e-8 * scale:
        raise InputFormatError(f"the lattice vectors of the {what} are linearly dependent "
                               f"(a zero or flat cell)", path=path, line=lines[0][0],
                               fix="give three independent lattice vectors")
    return lat


def read_tb(path) -> TbFile:
    """Read a Wannier90 3.1 ``_tb.dat`` file (see the module docstring).

    Same checks as :func:`~wanphonon.io.hr.read_hr`, plus: both parts list the
    same R vectors in the same order, three finite, independent lattice vectors.
    """
    path = str(path)
    data = read_bytes(path, what="Wannier90 _tb.dat file")
    cur = LineCursor(data, path)
    header = cur.next("a header line")
    lat_lines = [cur.next_nonblank(f"lattice vector a{i + 1}") for i in range(3)]
    lattice = read_lattice_lines(lat_lines, path=path, what="_tb.dat header")
    nw, nR, ndegen = read_sizes(cur, what="_tb.dat file", rewrite=_REWRITE, blank_after=True)
    nw2 = nw * nw
    sections = _fixed_sections(data, cur.pos, cur.lineno, nR, nw2)
    if sections is None:
        sections = _stream_sections(data, cur.pos, cur.lineno, nR, nw2, path)
    R, H, pos = _check_sections(sections, nR, nw, path)
    return TbFile(path=path, header=header.strip(), lattice=lattice, num_wann=nw, R=R,
                  ndegen=ndegen, H=H, pos=pos)


class _Section:
    """One part of the file: R vectors (nR, 3) and data rows (nR*nw2, ncols), with line lookup."""

    def __init__(self, name, Rv, rows, line_of_R, line_of_row):
        self.name, self.Rv, self.rows = name, Rv, rows
        self.line_of_R, self.line_of_row = line_of_R, line_of_row


def _fixed_sections(data: bytes, p: int, line: int, nR: int, nw2: int):
    """Both parts through the fixed-format route if the file is laid out exactly as
    Wannier90 writes it (one blank line before each R, uniform widths); else None."""
    out = []
    for name, ncols in (("Hamiltonian", 4), ("position", 8)):
        if data[p:p + 1] != b"\n":
            return None
        r_end = data.find(b"\n", p + 1)
        d_end = data.find(b"\n", r_end + 1) if r_end >= 0 else -1
        if d_end < 0:
            return None
        rlen, dlen = r_end - p, d_end - r_end
        bsize = 1 + rlen + nw2 * dlen
        if p + nR * bsize > len(data):
            return None
        blocks = np.frombuffer(data, np.uint8, count=nR * bsize, offset=p).reshape(nR, bsize)
        if not (blocks[:, 0] == 10).all():
            return None
        Rv = parse_fixed_rows(np.ascontiguousarray(blocks[:, 1:1 + rlen]), 3)
        if Rv is None:
            return None
        rows = parse_fixed_rows(blocks[:, 1 + rlen:].reshape(nR * nw2, dlen), ncols)
        if rows is None:
            return None
        first, stride = line, nw2 + 2
        out.append(_Section(name, Rv, rows,
                            lambda r, f=first, s=stride: f + 1 + r * s,
                            lambda i, f=first, s=stride: f + 2 + (i // nw2) * s + i % nw2))
        line += nR * stride
        p += nR * bsize
    if data[p:].strip():
        return None
    return out


def _stream_sections(data: bytes, p: int, line: int, nR: int, nw2: int, path: str):
    """Both parts from the token stream (any spacing/width); checks the count of numbers per line."""
    flat = parse_stream(data, p, len(data), path=path, first_line=line)
    counts = line_token_counts(data, p, len(data))
    nonblank = np.flatnonzero(counts)
    got = counts[nonblank]
    expected = np.concatenate([np.tile(np.r_[3, np.full(nw2, 4)], nR),
                               np.tile(np.r_[3, np.full(nw2, 8)], nR)])
    n = min(len(got), len(expected))
    wrong = np.flatnonzero(got[:n] != expected[:n])
    if wrong.size:
        k = int(wrong[0])
        what = {3: "the R vector 'R1 R2 R3'", 4: "'m n Re(H) Im(H)'",
                8: "'m n Re(x) Im(x) Re(y) Im(y) Re(z) Im(z)'"}[int(expected[k])]
        raise InputFormatError(f"expected {int(expected[k])} numbers on this line ({what}), found "
                               f"{int(got[k])}", path=path, line=line + int(nonblank[k]),
                               fix="the file is corrupted, or num_wann/nrpts in the header are "
                                   "wrong; " + _REWRITE)
    if len(got) < len(expected):
        end_line = line + data.count(b"\n", p) + (0 if data.endswith(b"\n") else 1)
        raise InputFormatError(f"the file ends too early: {len(got)} of the {len(expected)} R and "
                               f"data lines are present (num_wann**2 = {nw2}, nrpts = {nR})",
                               path=path, line=end_line,
                               fix="the file is truncated; " + _REWRITE)
    if len(got) > len(expected):
        raise InputFormatError("unexpected extra data after the position matrix",
                               path=path, line=line + int(nonblank[len(expected)]),
                               fix="num_wann/nrpts in the header do not match the data; " + _REWRITE)
    n1 = nR * (3 + 4 * nw2)
    s1 = flat[:n1].reshape(nR, 3 + 4 * nw2)
    s2 = flat[n1:].reshape(nR, 3 + 8 * nw2)
    out = []
    for name, s, ncols, k0 in (("Hamiltonian", s1, 4, 0), ("position", s2, 8, nR * (nw2 + 1))):
        out.append(_Section(name, s[:, :3], s[:, 3:].reshape(nR * nw2, ncols),
                            lambda r, k0=k0: line + int(nonblank[k0 + r * (nw2 + 1)]),
                            lambda i, k0=k0: line + int(nonblank[k0 + (i // nw2) * (nw2 + 1)
                                                                 + 1 + i % nw2])))
    return out


def _check_sections(sections, nR: int, nw: int, path: str):
    nw2 = nw * nw
    fix = "the file is corrupted, or num_wann/nrpts in the header are wrong; " + _REWRITE
    Rs = []
    for sec in sections:
        iR, err = int_columns(sec.Rv, ("R1", "R2", "R3"))
        if err:
            raise InputFormatError(err[1], path=path, line=sec.line_of_R(err[0]), fix=fix)
        Rs.append(iR)
        idx = np.arange(nR * nw2)
        iv, err = int_columns(sec.rows, ("m", "n"))
        cands = [err] if err else []
        i = first_true(~np.isfinite(sec.rows[:, 2:]))
        if i >= 0:
            cands.append((i, f"{sec.name} value is not a finite number"))
        m_exp, n_exp = idx % nw + 1, idx // nw % nw + 1
        i = first_true((iv[:, 0] != m_exp) | (iv[:, 1] != n_exp))
        if i >= 0:
            cands.append((i, f"expected Wannier indices m = {m_exp[i]}, n = {n_exp[i]} (m runs "
                             f"fastest, then n; num_wann = {nw}), found m = {iv[i, 0]}, "
                             f"n = {iv[i, 1]}"))
        err = first_error(cands)
        if err:
            raise InputFormatError(err[1], path=path, line=sec.line_of_row(err[0]), fix=fix)
    i = first_true((Rs[0] != Rs[1]).any(1))
    if i >= 0:
        raise InputFormatError(f"R = {tuple(Rs[1][i].tolist())} of the position-matrix part differs "
                               f"from R = {tuple(Rs[0][i].tolist())} of the Hamiltonian part "
                               f"(block {i + 1})", path=path, line=sections[1].line_of_R(i), fix=fix)
    check_distinct_R(Rs[0], sections[0].line_of_R, path, _REWRITE)
    h = sections[0].rows.reshape(nR, nw, nw, 4)
    H = (h[..., 2] + 1j * h[..., 3]).transpose(0, 2, 1)
    q = sections[1].rows.reshape(nR, nw, nw, 8)
    pos = (q[..., 2::2] + 1j * q[..., 3::2]).transpose(0, 2, 1, 3)
    return Rs[0], np.ascontiguousarray(H), np.ascontiguousarray(pos)
