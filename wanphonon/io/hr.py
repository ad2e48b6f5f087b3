"""Reader for Wannier90's ``seedname_hr.dat`` (real-space Hamiltonian, eV).

Layout (Wannier90 1.x-3.x, ``hamiltonian_write_hr``)::

    header line (date)
    num_wann
    nrpts
    ndegen(1) ... ndegen(nrpts)            15 per line, (15I5)
    R1 R2 R3 m n Re Im                     nrpts*num_wann**2 lines, (5I5,2F12.6)

Within each R block ``m`` runs fastest, then ``n``.  The value on a line is
``H_mn(R) = <w_m,0|H|w_n,R>`` in eV and, as Wannier90 writes it, is *not*
divided by the Wigner-Seitz degeneracy ``ndegen(R)``: a Fourier sum is
``H_mn(k) = sum_R H_mn(R) / ndegen(R) * exp(i k.R)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from .text import LineCursor, TableReader, parse_int, read_bytes

__all__ = ["HrFile", "read_hr"]

_REWRITE = "re-create the file with Wannier90 (write_hr = true)"


@dataclass(frozen=True)
class HrFile:
    """Content of a ``_hr.dat`` file.

    ``H[r, m-1, n-1]`` (complex, eV) is the value on the line ``R[r] m n``,
    exactly as in the file (not divided by ``ndegen[r]``).
    """

    num_wann: int
    R: np.ndarray        # (nR, 3) int, lattice-vector coordinates
    ndegen: np.ndarray   # (nR,) int >= 1
    H: np.ndarray        # (nR, N, N) complex, eV
    path: str = ""
    header: str = ""


def read_sizes(cur: LineCursor, *, what: str, rewrite: str = _REWRITE,
               blank_after: bool = False) -> tuple[int, int, np.ndarray]:
    """``num_wann``, ``nrpts`` and the ``ndegen`` list (15 per line) at the cursor.

    Shared by the ``_hr.dat`` and ``_tb.dat`` readers; ``what`` names the file
    kind, ``rewrite`` says how to re-create it, ``blank_after`` whether a blank
    line follows the list (``_tb.dat``).
    """
    _REWRITE = rewrite  # noqa: N806
    sizes = []
    for name in ("num_wann", "nrpts"):
        n, line = cur.next_nonblank(f"{name} (one integer)")
        toks = line.split()
        if len(toks) != 1:
            raise InputFormatError(f"expected {name} (one integer) on this line of the {what}, "
                                   f"found {len(toks)} items", path=cur.path, line=n, fix=_REWRITE)
        value = parse_int(toks[0], path=cur.path, line=n, what=name)
        if value < 1:
            raise InputFormatError(f"{name} must be positive, found {value}", path=cur.path, line=n,
                                   fix=_REWRITE)
        sizes.append((value, n))
    (num_wann, _), (nrpts, nr_line) = sizes
    ndegen = np.empty(nrpts, np.int64)
    got = 0
    while got < nrpts:
        want = min(15, nrpts - got)
        n, line = cur.next_nonblank(f"{nrpts - got} more Wigner-Seitz degeneracies "
                                    f"(nrpts = {nrpts} on line {nr_line})")
        toks = line.split()
        if len(toks) != want:
            raise InputFormatError(
                f"expected {want} Wigner-Seitz degeneracies on this line (nrpts = {nrpts} on line "
                f"{nr_line}, 15 per line), found {len(toks)} items", path=cur.path, line=n,
                fix="nrpts does not match the degeneracy list, or the file is corrupted; " + _REWRITE)
        for t in toks:
            ndegen[got] = parse_int(t, path=cur.path, line=n, what="a Wigner-Seitz degeneracy")
            if ndegen[got] < 1:
                raise InputFormatError(f"Wigner-Seitz degeneracy must be >= 1, found {ndegen[got]}",
                                       path=cur.path, line=n, fix=_REWRITE)
            got += 1
    # a short list of integers next means nrpts is smaller than the list written
    save = (cur.pos, cur.lineno)
    if not cur.at_end():
        n, line = cur.lineno, cur.next("data")
        if not blank_after and not line.strip() and not cur.at_end():
            n, line = cur.next_nonblank("data")
        toks = line.split()
        # data lines of hr.dat have 7 numbers; in tb.dat an 'R1 R2 R3' line (3) may follow
        short = len(toks) != 3 if blank_after else len(toks) < 5
        if toks and short and all(t.lstrip("+-").isdigit() for t in toks):
            raise InputFormatError(
                f"more Wigner-Seitz degeneracies than nrpts = {nrpts} (line {nr_line}): this line "
                "still lists integers where the data should start", path=cur.path, line=n,
                fix="nrpts does not match the degeneracy list; " + _REWRITE)
    cur.pos, cur.lineno = save
    return num_wann, nrpts, ndegen


def first_error(candidates: list[tuple[int, str]]) -> tuple[int, str] | None:
    """The (row, message) with the smallest row, or None."""
    found = [c for c in candidates if c[0] >= 0]
    return min(found, key=lambda c: c[0]) if found else None


def first_true(mask: np.ndarray) -> int:
    """Index of the first True along axis 0 (any True in a row counts), -1 if none."""
    if mask.ndim > 1:
        mask = mask.any(axis=tuple(range(1, mask.ndim)))
    return int(np.argmax(mask)) if mask.any() else -1


def int_columns(v: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[int, str] | None]:
    """The first ``len(names)`` columns of ``v`` as int64, and the first row where one is not an integer.

    NaN, non-integral and out-of-range values all fail the exact round trip.
    """
    cols = v[:, :len(names)]
    with np.errstate(invalid="ignore"):
        iv = cols.astype(np.int64)
    bad = iv != cols
    if not bad.any():
        return iv, None
    i = first_true(bad)
    j = int(np.argmax(bad[i]))
    return iv, (i, f"expected an integer for {names[j]}, found {cols[i, j]!r}")


def read_hr(path) -> HrFile:
    """Read a Wannier90 ``_hr.dat`` file (see the module docstring for the layout).

    Checks num_wann/nrpts against the data (with the line of the first
    inconsistency), that every R block is complete with ``m`` fastest then
    ``n``, the same R on all its lines, distinct R vectors, integers where
    integers belong, finite values, no truncation and no extra data.
    """
    path = str(path)
    data = read_bytes(path, what="Wannier90 _hr.dat file")
    cur = LineCursor(data, path)
    header = cur.next("a header line")
    num_wann, nrpts, ndegen = read_sizes(cur, what="_hr.dat file")
    nw, nw2 = num_wann, num_wann * num_wann
    nrows = nrpts * nw2
    Hraw = np.empty(nrows, complex)       # (nR, n, m) order, as in the file
    R = np.zeros((nrpts, 3), np.int64)
    sizes = f"(num_wann = {nw}, nrpts = {nrpts})"
    reader = TableReader(data, cur.pos, len(data), 7, path=path, first_line=cur.lineno,
                         columns="R1 R2 R3 m n Re(H) Im(H)")
    for r0, v in reader:
        if r0 + len(v) > nrows:
            v = v[:max(nrows - r0, 0)]
        idx = r0 + np.arange(len(v))
        cands = []
        iv, e = int_columns(v, ("R1", "R2", "R3", "m", "n"))
        if e:
            cands.append(e)
        i = first_true(~np.isfinite(v[:, 5:7]))
        if i >= 0:
            j = 5 if not np.isfinite(v[i, 5]) else 6
            cands.append((i, f"H value {v[i, j]!r} is not a finite number"))
        m_exp = idx % nw + 1
        n_exp = idx // nw % nw + 1
        i = first_true((iv[:, 3] != m_exp) | (iv[:, 4] != n_exp))
        if i >= 0:
            cands.append((i, f"expected Wannier indices m = {m_exp[i]}, n = {n_exp[i]} (m runs "
                             f"fastest, then n, in each R block {sizes}), found m = {iv[i, 3]}, "
                             f"n = {iv[i, 4]}"))
        blk = idx // nw2
        head = idx % nw2 == 0
        R[blk[head]] = iv[head, :3]
        i = first_true((iv[:, :3] != R[blk]).any(1))
        if i >= 0:
            cands.append((i, f"R = {tuple(iv[i, :3].tolist())} changes inside the block of "
                             f"R = {tuple(R[blk[i]].tolist())} (each R block has num_wann**2 = "
                             f"{nw2} lines {sizes})"))
        err = first_error(cands)
        if err:
            raise reader.error(r0 + err[0], err[1], fix="the file is corrupted, or num_wann/nrpts "
                                                        "in the header are wrong; " + _REWRITE)
        Hraw[r0:r0 + len(v)].real = v[:, 5]
        Hraw[r0:r0 + len(v)].imag = v[:, 6]
    if reader.nrows < nrows:
        raise InputFormatError(
            f"the file ends after {reader.nrows} data lines, but nrpts * num_wann**2 = "
            f"{nrows} are needed {sizes}", path=path, line=reader.end_line,
            fix="the file is truncated (or num_wann/nrpts on lines 2-3 are wrong); " + _REWRITE)
    if reader.nrows > nrows:
        raise reader.error(nrows, f"unexpected extra data after the last of nrpts * num_wann**2 = "
                                  f"{nrows} data lines {sizes}",
                           fix="num_wann/nrpts on lines 2-3 do not match the data; " + _REWRITE)
    check_distinct_R(R, lambda r: reader.line(r * nw2), path)
    H = np.ascontiguousarray(Hraw.reshape(nrpts, nw, nw).transpose(0, 2, 1))   # (R, m, n)
    return HrFile(path=path, header=header.strip(), num_wann=nw, R=R, ndegen=ndegen, H=H)


def check_distinct_R(R: np.ndarray, line_of_block, path: str) -> None:
    """Error if an R vector appears twice (names the line of the second block)."""
    if len(R) < 2:
        return
    order = np.lexsort(R.T[::-1])
    same = (R[order[1:]] == R[order[:-1]]).all(1)
    if same.any():
        pairs = np.sort(np.stack([order[1:][same], order[:-1][same]], 1), axis=1)
        second = int(pairs[np.argmin(pairs[:, 1]), 1]) if len(pairs) else 0
        first = int(pairs[np.argmin(pairs[:, 1]), 0])
        raise InputFormatError(f"R = {tuple(R[second].tolist())} appears twice (first at line "
                               f"{line_of_block(first)})", path=path, line=line_of_block(second),
                               fix="the file is corrupted; " + (
                                   _REWRITE.replace("write_hr", "write_tb")
                                   if path.endswith("_tb.dat") else _REWRITE))
