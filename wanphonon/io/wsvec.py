"""Reader for Wannier90's ``seedname_wsvec.dat`` and the minimal-image expansion it defines.

With ``use_ws_distance = true`` (the Wannier90 3.x default) the hopping
``X_mn(R) = <w_m,0|X|w_n,R>`` is not placed at ``R`` but at the image(s)
``R + T`` that minimise the distance between the two Wannier centres,
``|R + T + tau_n - tau_m|`` (``T`` a translation of the Wannier-Seitz
supercell of the k grid).  When several images are equally close, the
hopping is shared equally among the ``ndeg`` of them.  The file lists those
``T`` (in lattice-vector coordinates)::

    ## header ... with use_ws_distance=.true.
    R1 R2 R3 m n           one block for every R of _hr.dat and every m, n
    ndeg
    T1 T2 T3               ndeg lines

So a Fourier sum reads ``X_mn(k) = sum_R X_mn(R)/ndegen(R) * (1/ndeg) sum_j
exp(i k.(R + T_j))``.  :func:`apply_ws_shifts` turns that into an ordinary
list of lattice vectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from .rvectors import r_keys
from .text import LineCursor, check_finite, line_token_counts, parse_stream, read_bytes

__all__ = ["WsvecFile", "read_wsvec", "apply_ws_shifts"]

_REWRITE = "re-create it with the same Wannier90 run as the _hr.dat/_tb.dat file"


@dataclass(frozen=True)
class WsvecFile:
    """Shifts ``T`` for every (R index r, m, n), stored flat (CSR-like).

    The shifts of element ``(r, m, n)`` (0-based) are
    ``shifts[start[r, m, n] : start[r, m, n] + ndeg[r, m, n]]``.
    ``R`` is the R list the file was matched against (same order).
    """

    R: np.ndarray                  # (nR, 3) int
    num_wann: int
    ndeg: np.ndarray               # (nR, N, N) int >= 1
    start: np.ndarray              # (nR, N, N) int, offset into ``shifts``
    shifts: np.ndarray             # (total, 3) int, lattice-vector coordinates
    use_ws_distance: bool | None = None   # from the header, None if it does not say
    path: str = ""

    def shifts_of(self, r: int, m: int, n: int) -> np.ndarray:
        """The ``(ndeg, 3)`` shifts of element ``(r, m, n)`` (0-based indices)."""
        s = self.start[r, m, n]
        return self.shifts[s:s + self.ndeg[r, m, n]]


def read_wsvec(path, R: np.ndarray, num_wann: int) -> WsvecFile:
    """Read a Wannier90 3.1 ``_wsvec.dat`` file for the R list ``R`` of the matching hr/tb file.

    Checks the block structure (a ``R1 R2 R3 m n`` line, an ``ndeg`` >= 1 line,
    ``ndeg`` lines of three integers), that every block's R is in ``R`` and
    1 <= m, n <= num_wann, and that every (R, m, n) has exactly one block.
    """
    path = str(path)
    R = np.asarray(R, np.int64)
    nR, nw = len(R), int(num_wann)
    data = read_bytes(path, what="Wannier90 _wsvec.dat file")
    cur = LineCursor(data, path)
    header = cur.next("a header line")
    flag = re.search(r"use_ws_distance\s*=\s*\.?(true|false|t|f)\.?", header, re.IGNORECASE)
    use_ws = None if flag is None else flag.group(1).lower().startswith("t")
    first_line = cur.lineno
    flat = parse_stream(data, cur.pos, len(data), path=path, first_line=first_line)
    counts = line_token_counts(data, cur.pos, len(data))
    lines = np.flatnonzero(counts)                    # line offsets of the non-blank lines
    c = counts[lines]
    offs = np.concatenate(([0], np.cumsum(c)))       # token offset of each non-blank line

    def at(k: int) -> int:
        return first_line + int(lines[k]) if k < len(lines) else \
            first_line + len(counts)

    def token_line(k: int) -> int:
        return at(int(np.searchsorted(offs, k, side="right") - 1))

    fix = "the file is corrupted or truncated; " + _REWRITE
    check_finite(flat, token_line, path=path, what="the _wsvec.dat data")
    bad = (flat != np.round(flat)) | (np.abs(flat) > 2 ** 31)
    if bad.any():
        k = int(np.argmax(bad))
        raise InputFormatError(f"expected an integer, found {flat[k]!r}", path=path,
                               line=token_line(k), fix=fix)
    tok = flat.astype(np.int64)
    if len(c) == 0:
        raise InputFormatError("no data after the header", path=path, line=first_line, fix=fix)
    # structure: header lines have 5 numbers, followed by ndeg (1 number) and ndeg lines of 3
    heads = np.flatnonzero(c == 5)
    problems = []
    if c[0] != 5:
        problems.append((0, f"expected 'R1 R2 R3 m n' (5 integers), found {int(c[0])} numbers"))
    odd = np.flatnonzero((c != 5) & (c != 1) & (c != 3))
    if odd.size:
        problems.append((int(odd[0]), f"expected 5, 1 or 3 integers on a line, found {int(c[odd[0]])}"))
    if heads.size:
        nd_line = heads + 1
        short = nd_line >= len(c)
        if short.any():
            problems.append((len(c), "the file ends after a block header, without ndeg"))
        nd_line = nd_line[~short]
        h = heads[~short]
        notone = np.flatnonzero(c[nd_line] != 1)
        if notone.size:
            problems.append((int(nd_line[notone[0]]), "expected ndeg (one integer) after the "
                                                       "'R1 R2 R3 m n' line"))
        ndeg_h = tok[offs[nd_line]]
        zero = np.flatnonzero(ndeg_h < 1)
        if zero.size:
            problems.append((int(nd_line[zero[0]]), f"ndeg must be >= 1, found {ndeg_h[zero[0]]}"))
        nxt = h + 2 + np.maximum(ndeg_h, 0)          # where the next header must be
        real_next = np.append(heads[1:], len(c))[~short]
        mism = np.flatnonzero(nxt != real_next)
        if mism.size:
            j = int(mism[0])
            k = int(min(nxt[j], real_next[j]))
            problems.append((k, f"block of line {at(int(h[j]))} announces ndeg = {ndeg_h[j]} shift "
                                f"vectors, but {int(real_next[j] - h[j] - 2)} lines of 3 integers "
                                "follow"))
    if problems:
        k, msg = min(problems, key=lambda t: t[0])
        raise InputFormatError(msg, path=path, line=at(k), fix=fix)
    # block contents
    hdr = tok[offs[heads][:, None] + np.arange(5)]
    Rb, mb, nb = hdr[:, :3], hdr[:, 3] - 1, hdr[:, 4] - 1
    ndeg_b = tok[offs[heads + 1]]
    badmn = np.flatnonzero((mb < 0) | (mb >= nw) | (nb < 0) | (nb >= nw))
    if badmn.size:
        j = int(badmn[0])
        raise InputFormatError(f"Wannier indices m = {mb[j] + 1}, n = {nb[j] + 1} out of range "
                               f"1..num_wann = {nw}", path=path, line=at(int(heads[j])),
                               fix="this _wsvec.dat belongs to another model; " + _REWRITE)
    kR, kb = r_keys(R, Rb)
    order = np.argsort(kR, kind="stable")
    pos = np.searchsorted(kR[order], kb)
    pos = np.minimum(pos, nR - 1)
    found = kR[order][pos] == kb
    if not found.all():
        j = int(np.argmin(found))
        raise InputFormatError(f"R = {tuple(Rb[j].tolist())} is not among the R vectors of the "
                               "_hr.dat/_tb.dat file", path=path, line=at(int(heads[j])),
                               fix="this _wsvec.dat belongs to another run; " + _REWRITE)
    rb = order[pos]
    elem = (rb * nw + mb) * nw + nb
    seen = np.bincount(elem, minlength=nR * nw * nw)
    if (seen > 1).any():
        dup = int(np.flatnonzero(seen > 1)[0])
        j = int(np.flatnonzero(elem == dup)[1])
        raise InputFormatError(f"a second block for R = {tuple(Rb[j].tolist())}, m = {mb[j] + 1}, "
                               f"n = {nb[j] + 1}", path=path, line=at(int(heads[j])), fix=fix)
    if (seen == 0).any():
        miss = int(np.flatnonzero(seen == 0)[0])
        r, mn = divmod(miss, nw * nw)
        raise InputFormatError(f"no block for R = {tuple(R[r].tolist())}, m = {mn // nw + 1}, "
                               f"n = {mn % nw + 1} ({int((seen == 0).sum())} (R, m, n) missing)",
                               path=path, line=at(len(c)), fix=fix)
    # shift vectors, gathered in (r, m, n) order
    sort = np.argsort(elem, kind="stable")
    nd_sorted = ndeg_b[sort]
    start = np.concatenate(([0], np.cumsum(nd_sorted)[:-1]))
    src_line = np.repeat(heads[sort] + 2, nd_sorted) + (np.arange(nd_sorted.sum())
                                                       - np.repeat(start, nd_sorted))
    shifts = tok[offs[src_line][:, None] + np.arange(3)]
    return WsvecFile(path=path, use_ws_distance=use_ws, R=R.copy(), num_wann=nw,
                     ndeg=nd_sorted.reshape(nR, nw, nw), start=start.reshape(nR, nw, nw),
                     shifts=shifts)


def apply_ws_shifts(R: np.ndarray, matrices: np.ndarray, wsvec: WsvecFile
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Move every element to its minimal-distance image(s): ``X(R)[m,n] -> R + T_j`` with weight 1/ndeg.

    ``matrices`` is ``(nR, N, N, ...)`` (any trailing dims, e.g. ``H`` or the
    position matrix ``(nR, N, N, 3)``), ALREADY divided by ``ndegen``, with
    ``R`` equal to the R list of ``wsvec``.  Returns ``(R_new, matrices_new)``:
    ``R_new`` the union of all targets, sorted lexicographically, and the
    summed contributions (the Fourier sum over ``R_new`` then equals
    Wannier90's ``use_ws_distance`` interpolation).
    """
    R = np.asarray(R, np.int64)
    X = np.asarray(matrices)
    nR, nw = len(R), wsvec.num_wann
    if X.shape[:3] != (nR, nw, nw) or not np.array_equal(R, wsvec.R):
        raise InputFormatError(f"the _wsvec.dat shifts (for {len(wsvec.R)} R vectors and "
                               f"{nw} Wannier functions) do not match the matrices "
                               f"{X.shape} being expanded", path=wsvec.path,
                               fix="use the _wsvec.dat of the same Wannier90 run")
    tail = X.shape[3:]
    nel = nR * nw * nw
    nd = wsvec.ndeg.reshape(-1)
    src = np.repeat(np.arange(nel), nd)             # element of each shift, (r, m, n) order
    first = np.concatenate(([0], np.cumsum(nd)[:-1]))
    which = np.repeat(wsvec.start.reshape(-1), nd) + np.arange(len(src)) - np.repeat(first, nd)
    targets = R[src // (nw * nw)] + wsvec.shifts[which]
    R_new, inv = np.unique(targets, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    dest = inv * (nw * nw) + src % (nw * nw)
    weight = 1.0 / nd[src]
    vals = X.reshape(nel, -1)[src] * weight[:, None]
    nout = len(R_new) * nw * nw
    out = np.zeros((nout, vals.shape[1]), dtype=np.result_type(X.dtype, float))
    for c in range(vals.shape[1]):
        col = vals[:, c]
        if np.iscomplexobj(col):
            out[:, c] = (np.bincount(dest, weights=col.real, minlength=nout)
                         + 1j * np.bincount(dest, weights=col.imag, minlength=nout))
        else:
            out[:, c] = np.bincount(dest, weights=col, minlength=nout)
    return R_new, out.reshape((len(R_new), nw, nw) + tail)
