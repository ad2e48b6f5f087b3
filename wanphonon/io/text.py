"""Low-level text helpers shared by the Wannier90 readers.

Everything here works on the raw ``bytes`` of a file, because the big files
(``_hr.dat``, ``_tb.dat``) are best converted to numbers without building
millions of Python strings.  Every problem is raised as
:class:`~wanphonon.errors.InputFormatError` naming the file and, where it
means something, the 1-based line number.  Line numbers are only computed on
the error path; the fast path never splits the file into lines.

Numbers are read by one of two routes:

* ``fixed`` -- Fortran fixed-format blocks (every line the same length, every
  number ending in the same column, as Wannier90 writes them with
  ``(5I5,2F12.6)`` or ``(2I5,3x,2(E15.8,1x))``) are decoded column-wise with
  numpy byte arithmetic.  The result is bit-identical to ``strtod`` (the
  mantissa is an exact integer and is scaled by one exact power of ten).
* ``stream`` -- anything else (free format, any field width, tabs, ...) goes
  through ``numpy.fromstring(sep=' ')`` after turning Fortran ``D``/``d``
  exponents into ``E``/``e``.

Both routes accept ``D`` exponents and reject anything that is not a number.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np

from ..errors import InputFormatError

__all__ = [
    "read_bytes", "line_number", "LineCursor", "parse_int", "parse_float",
    "parse_stream", "line_token_counts", "TableReader", "check_finite",
    "parse_fixed_rows",
]

_D_TO_E = bytes.maketrans(b"Dd", b"Ee")
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)\Z",
    re.IGNORECASE)
_INT_RE = re.compile(r"[+-]?\d+\Z")
_FORTRAN_EXP3_RE = re.compile(r"[+-]?\d*\.\d+[+-]\d{3}\Z")


# --------------------------------------------------------------------------------------
# files and lines
# --------------------------------------------------------------------------------------
def read_bytes(path: str | Path, *, what: str = "file", fix: str | None = None) -> bytes:
    """The whole content of ``path``; a clear error if it is missing, unreadable or not text.

    ``what`` names the kind of file in the messages (e.g. "Wannier90 _hr.dat file").
    Non-ASCII content must at least be valid UTF-8 (the readers then reject any
    non-numeric token where numbers are expected).
    """
    p = Path(path)
    try:
        data = _read_text_chunks(p, what)
    except FileNotFoundError:
        raise InputFormatError(f"{what} not found", path=str(p),
                               fix=fix or "check the path and the seedname") from None
    except IsADirectoryError:
        raise InputFormatError(f"{what} expected, but this is a directory", path=str(p),
                               fix=fix or "give the path of the file, not of its folder") from None
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        raise InputFormatError(f"cannot read the {what}: {exc.strerror or exc}", path=str(p),
                               fix=fix or ("a symbolic link here points (through others) back to "
                                           "itself: replace it by the file or a link to the file"
                                           if loop else "check that the file exists and is readable")
                               ) from None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputFormatError(f"the {what} is not UTF-8/ASCII text (byte 0x{data[exc.start]:02x})",
                                   path=str(p), line=line_number(data, exc.start),
                                   fix="give the text file written by Wannier90") from None
    return data


#: Bytes read at a time by :func:`read_bytes`; a binary file (a NUL byte) is refused after
#: the first chunk that shows it, not after reading all of it.
READ_CHUNK = 1 << 24


def _read_text_chunks(p: Path, what: str) -> bytes:
    """The file's bytes, read chunk by chunk; stops at the first chunk holding a NUL byte."""
    parts = []
    with open(p, "rb") as fh:
        while True:
            chunk = fh.read(READ_CHUNK)
            if not chunk:
                return b"".join(parts)
            nul = chunk.find(b"\x00")
            if nul >= 0:
                data = b"".join(parts) + chunk
                offset = len(data) - len(chunk) + nul
                raise InputFormatError(f"the {what} contains a NUL byte (at byte {offset}): this is "
                                       "not a text file", path=str(p), line=line_number(data, offset),
                                       fix="give the text file written by Wannier90 (not a binary, "
                                           "compressed or damaged file)")
            parts.append(chunk)


def line_number(data: bytes, offset: int, first_line: int = 1) -> int:
    """1-based line number of byte ``offset`` (``first_line`` is the line at offset 0)."""
    return first_line + data.count(b"\n", 0, offset)


class LineCursor:
    """Reads a file line by line from the start (for headers and small files).

    ``pos`` is the byte offset of the next unread line, ``lineno`` its number.
    """

    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.pos = 0
        self.lineno = 1

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def next(self, expected: str) -> str:
        """The next line (decoded, without its newline); ``expected`` describes it for errors."""
        if self.pos >= len(self.data):
            raise InputFormatError(f"file ends too early: expected {expected}", path=self.path,
                                   line=self.lineno,
                                   fix="the file is truncated; copy it again or re-run Wannier90")
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            end = len(self.data)
        line = self.data[self.pos:end].decode("utf-8", errors="replace").rstrip("\r")
        self.pos = end + 1
        self.lineno += 1
        return line

    def next_nonblank(self, expected: str) -> tuple[int, str]:
        """The next non-blank line and its number."""
        while True:
            n = self.lineno
            line = self.next(expected)
            if line.strip():
                return n, line


def _show(token: str) -> str:
    return repr(token if len(token) <= 40 else token[:37] + "...")


def parse_int(token: str, *, path: str, line: int, what: str) -> int:
    """An integer token (no decimal point, no exponent), else an error naming ``what``."""
    if not _INT_RE.match(token):
        raise InputFormatError(f"expected an integer for {what}, found {_show(token)}",
                               path=path, line=line)
    return int(token)


def parse_float(token: str, *, path: str, line: int, what: str) -> float:
    """A real-number token (Fortran ``D`` exponents accepted), finite, else an error."""
    if not _FLOAT_RE.match(token):
        raise InputFormatError(f"expected a number for {what}, found {_show(token)}"
                               + _token_hint(token), path=path, line=line)
    value = float(token.translate(str.maketrans("Dd", "Ee")))
    if not np.isfinite(value):
        raise InputFormatError(f"{what} is {token} (not a finite number)", path=path, line=line,
                               fix="the program that wrote the file produced NaN/Inf; "
                                   "check the Wannier90 run")
    return value


def _token_hint(token: str) -> str:
    if set(token) == {"*"}:
        return " (a Fortran field overflow: the value was too large for its format)"
    if _FORTRAN_EXP3_RE.match(token):
        return (" (a Fortran E-format number with a 3-digit exponent written without 'E'; "
                "such tiny/huge values mean the file is not a sensible Hamiltonian)")
    return ""


# --------------------------------------------------------------------------------------
# general ("stream") route
# --------------------------------------------------------------------------------------
def parse_stream(data: bytes, start: int, end: int, *, path: str, first_line: int) -> np.ndarray:
    """All numbers in ``data[start:end]`` as a flat float array, whitespace separated.

    ``first_line`` is the line number of offset ``start``.  A token that is not a
    number raises an error with its line; NaN/Inf are returned (see
    :func:`check_finite`).
    """
    block = data[start:end]
    if b"D" in block or b"d" in block:
        block = block.translate(_D_TO_E)
    try:
        return np.fromstring(block, sep=" ")
    except ValueError:
        pass
    # error path: bisect on line boundaries to the first failing piece, then scan it
    lo, hi = 0, len(block)
    while hi - lo > 1 << 16:
        mid = block.find(b"\n", (lo + hi) // 2)
        if mid < 0 or mid + 1 >= hi:
            break
        try:
            np.fromstring(block[lo:mid + 1], sep=" ")
            lo = mid + 1
        except ValueError:
            hi = mid + 1
    raw = data[start + lo:start + hi].decode("utf-8", errors="replace")
    base = line_number(data, start + lo, 1) - line_number(data, start, 1) + first_line
    for i, text in enumerate(raw.split("\n")):
        for tok in text.split():
            if not _FLOAT_RE.match(tok):
                raise InputFormatError(f"expected a number, found {_show(tok)}" + _token_hint(tok),
                                       path=path, line=base + i,
                                       fix="the file is corrupted or was edited by hand; "
                                           "re-create it with Wannier90")
    raise InputFormatError("could not read the numbers in this part of the file",
                           path=path, line=base,
                           fix="the file is corrupted; re-create it with Wannier90")


def line_token_counts(data: bytes, start: int, end: int) -> np.ndarray:
    """Number of whitespace-separated tokens on each line of ``data[start:end]`` (vectorised)."""
    buf = np.frombuffer(data, np.uint8, count=end - start, offset=start)
    if buf.size == 0:
        return np.zeros(0, np.int64)
    ws = buf <= 32
    starts = np.flatnonzero(~ws & np.concatenate(([True], ws[:-1])))
    newlines = np.flatnonzero(buf == 10)
    nlines = newlines.size + (0 if buf[-1] == 10 else 1)
    return np.bincount(np.searchsorted(newlines, starts), minlength=nlines)


# --------------------------------------------------------------------------------------
# fixed-format route
# --------------------------------------------------------------------------------------
_POW10 = 10.0 ** np.arange(23)


def _fixed_layout(row0: bytes, ncols: int):
    """Column layout of a fixed-format line: per number (start, var_end, dot, mant_end, exp, end)."""
    toks = [(m.start(), m.end() - 1, m.group()) for m in re.finditer(rb"[^ ]+", row0)]
    if len(toks) != ncols:
        return None
    fields, prev = [], -1
    for s, e, tok in toks:
        dot = tok.find(b".")
        ex = max(tok.find(c) for c in (b"E", b"e", b"D", b"d"))
        dot = s + dot if dot >= 0 else -1
        ex = s + ex if ex >= 0 else -1
        if 0 <= ex < dot:
            return None
        mend = ex - 1 if ex >= 0 else e
        vend = dot - 1 if dot >= 0 else mend
        if ex >= 0 and not 2 <= e - ex <= 4:
            return None
        if (vend - prev) + (mend - dot if dot >= 0 else 0) > 22:    # 10**k exact for k <= 22
            return None
        fields.append((prev + 1, vend, dot, mend, ex, e))
        prev = e
    return fields


class _FixedPlan:
    """Precomputed column sets and weights for decoding one fixed-format layout."""

    def __init__(self, fields, width: int):
        k = len(fields)
        self.width, self.k = width, k
        var, pair, first, dig, dots, lastd = [], [], [], [], [], []
        wm = np.zeros((width, k))                  # mantissa digit weights
        ws = np.zeros((width, k), np.float32)      # where a '-' makes number j negative
        self.ndec = np.zeros(k, np.int64)
        self.exp = []
        for j, (fs, vend, dot, mend, ex, e) in enumerate(fields):
            var += range(fs, vend + 1)
            pair += range(fs, vend)
            if fs > 0:
                first.append(fs)
            ws[fs:vend + 1, j] = 1.0
            cols = list(range(fs, vend + 1))
            if dot >= 0:
                dots.append(dot)
                dig += range(dot + 1, mend + 1)
                cols += range(dot + 1, mend + 1)
                self.ndec[j] = mend - dot
                if mend == dot:
                    lastd.append(vend)
            else:
                lastd.append(vend)
            wm[cols, j] = _POW10[len(cols) - 1::-1]
            if ex >= 0:
                dig += range(ex + 2, e + 1)
                self.exp.append((j, ex, e))
        ip = lambda v: np.asarray(v, np.intp)  # noqa: E731
        self.var, self.pair, self.first = ip(var), ip(pair), ip(first)
        self.dig, self.dots, self.lastd = ip(sorted(set(dig))), ip(dots), ip(lastd)
        self.wm, self.ws = wm, ws
        self.trail = (fields[-1][5] + 1, width - 1)
        self.scale = _POW10[self.ndec]

    def run(self, x: np.ndarray):
        """(values, rows needing the slow route) for rows ``x`` (n, width) uint8, or None.

        Checks are column-wise reductions (``any(0)``/``all(0)``), so no
        per-row Python work; each column must hold what the layout allows:
        fixed digits, the decimal point, the exponent letter, or in the
        variable part of a number ``' '* [+-]? digit*``.
        """
        width = self.width
        if not (x[:, width - 1] == 10).all():
            return None
        d = x - np.uint8(48)
        isdig = d < 10
        sp = x == 32
        minus = x == 45
        all_dig = isdig.all(0)
        all_sp = sp.all(0)
        t0, t1 = self.trail
        if not all_sp[t0:t1].all() or not all_dig[self.dig].all() or not all_dig[self.lastd].all():
            return None
        if self.dots.size and not (x[:, self.dots] == 46).all():
            return None
        if not all_sp[self.first].all():
            return None
        code = isdig.view(np.uint8) * np.uint8(2)          # space 0, sign 1, digit 2
        code |= minus
        code |= x == 43
        if (((code == 0) & ~sp).any(0)[self.var]).any():
            return None
        invalid = code[:, 1:] < ((code[:, :-1] + np.uint8(1)) & np.uint8(2))
        if invalid.any(0)[self.pair].any():
            return None
        dz = d * isdig
        mant = dz.astype(np.float64) @ self.wm
        negative = (minus.astype(np.float32) @ self.ws) > 0.5
        bad = np.zeros(x.shape[0], bool)
        if mant.max(initial=0.0) > 2.0 ** 53:
            bad |= (mant > 2.0 ** 53).any(1)
        val = mant / self.scale
        for j, ex, e in self.exp:
            letter = x[:, ex] | np.uint8(32)
            if not ((letter == 101) | (letter == 100)).all():
                return None
            s = x[:, ex + 1]
            sneg = s == 45
            if not (sneg | (s == 43) | isdig[:, ex + 1]).all():
                return None
            ev = np.zeros(x.shape[0], np.int64)
            for c in range(ex + 1, e + 1):
                ev = ev * 10 + dz[:, c]
            pw = np.where(sneg, -ev, ev) - self.ndec[j]
            bad |= np.abs(pw) > 22
            p = _POW10[np.minimum(np.abs(pw), 22)]
            val[:, j] = np.where(pw < 0, mant[:, j] / p, mant[:, j] * p)
        val *= 1.0 - 2.0 * negative        # keeps -0.0 for '-0.000000' like strtod
        return val, bad


def parse_fixed_rows(rows: np.ndarray, ncols: int, *, chunk: int = 8192) -> np.ndarray | None:
    """Decode rows of a fixed-format block, or ``None`` if it is not one.

    ``rows`` is an ``(n, width)`` uint8 array, each row one line including its
    ``\\n``.  The layout (where each of the ``ncols`` numbers ends, its decimal
    point and exponent) is taken from the first row and every row is checked
    against it byte by byte; any deviation (another width, a NaN, a tab, a
    missing blank between two numbers...) returns ``None`` so the caller falls
    back to :func:`parse_stream`.  Values equal ``strtod``'s exactly.
    """
    n, width = rows.shape
    if n == 0 or width < 2:
        return None
    fields = _fixed_layout(rows[0, :width - 1].tobytes(), ncols)
    if fields is None:
        return None
    plan = _FixedPlan(fields, width)
    out = np.empty((n, ncols))
    for c0 in range(0, n, chunk):
        res = plan.run(rows[c0:c0 + chunk])
        if res is None:
            return None
        out[c0:c0 + chunk] = _with_strtod(rows[c0:c0 + chunk], *res)
    return out


def _with_strtod(rows: np.ndarray, vals: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Re-read with strtod the rows the fixed decoder cannot do exactly (more than 15-16
    significant digits, exponents beyond +-22): one call for the chunk if there are many."""
    nbad = int(np.count_nonzero(bad))
    if nbad > 16:
        return np.fromstring(rows.tobytes().translate(_D_TO_E), sep=" ").reshape(vals.shape)
    for i in np.flatnonzero(bad):
        vals[i] = np.fromstring(rows[i].tobytes().translate(_D_TO_E), sep=" ")
    return vals


# --------------------------------------------------------------------------------------
# tables: lines with a fixed number of columns
# --------------------------------------------------------------------------------------
class TableReader:
    """Lines of ``ncols`` numbers each in ``data[start:end]``, decoded chunk by chunk.

    Iterating yields ``(row, values)`` with ``values`` of shape ``(n, ncols)``
    for rows ``row .. row+n-1`` (row ``i`` is the i-th non-blank line), so that
    a caller can check and store a big table without holding all of it as
    floats.  A uniform Fortran table goes through the fixed-format route; the
    first chunk that deviates from it (a NaN, another width...) switches the rest
    to the stream route, which checks that every non-blank line holds exactly
    ``ncols`` numbers.  After the iteration ``nrows`` and ``end_line`` (the line
    after the block) are known; ``line(row)`` gives the line number of a row.
    ``columns`` describes the columns for the messages.
    """

    def __init__(self, data: bytes, start: int, end: int, ncols: int, *, path: str,
                 first_line: int, columns: str, chunk: int = 8192):
        self.data, self.ncols, self.path = data, ncols, path
        self.first_line, self.columns, self.chunk = first_line, columns, chunk
        q = end                      # drop trailing blank lines (a final empty line is common)
        while q > start and data[q - 1] in b" \t\r\n":
            q -= 1
        nl = data.find(b"\n", q, end)
        self.start = start
        self.stop = start if q == start else (nl + 1 if nl >= 0 else end)
        self.nrows: int | None = None
        self.end_line: int | None = None
        self._switch_row: int | None = None        # first row read by the stream route
        self._switch_line = first_line
        self._line_index: np.ndarray | None = None  # stream route: line offset of each row

    def __iter__(self):
        data, start, stop = self.data, self.start, self.stop
        row = 0
        if stop > start and data[stop - 1] == 10:
            width = data.find(b"\n", start) + 1 - start
            size = stop - start
            if width > 1 and size % width == 0:
                rows = np.frombuffer(data, np.uint8, count=size, offset=start).reshape(-1, width)
                fields = _fixed_layout(rows[0, :width - 1].tobytes(), self.ncols)
                plan = _FixedPlan(fields, width) if fields is not None else None
                while plan is not None and row < rows.shape[0]:
                    res = plan.run(rows[row:row + self.chunk])
                    if res is None:
                        break
                    vals = _with_strtod(rows[row:row + self.chunk], *res)
                    yield row, vals
                    row += vals.shape[0]
                if plan is not None and row == rows.shape[0]:
                    self.nrows, self.end_line = row, self.first_line + row
                    return
                start += row * width
        # stream route for the rest
        self._switch_row = row
        self._switch_line = self.first_line + row     # fixed rows are lines one to one
        flat = parse_stream(data, start, stop, path=self.path, first_line=self._switch_line)
        counts = line_token_counts(data, start, stop)
        nonblank = np.flatnonzero(counts)
        wrong = np.flatnonzero(counts[nonblank] != self.ncols)
        if wrong.size:
            i = int(nonblank[wrong[0]])
            raise InputFormatError(f"expected {self.ncols} numbers on this line ({self.columns}), "
                                   f"found {int(counts[i])}", path=self.path,
                                   line=self._switch_line + i,
                                   fix="the file is truncated or corrupted; re-create it with "
                                       "Wannier90")
        self._line_index = nonblank
        vals = flat.reshape(-1, self.ncols)
        self.nrows = row + vals.shape[0]
        self.end_line = (self._switch_line + data.count(b"\n", start, stop)
                         + (0 if stop == start or data[stop - 1] == 10 else 1))
        for r in range(0, vals.shape[0], self.chunk):
            yield row + r, vals[r:r + self.chunk]

    def line(self, row: int) -> int:
        """Line number of row ``row`` (``end_line`` for a row past the end)."""
        if self.nrows is not None and row >= self.nrows:
            return self.end_line
        if self._switch_row is None or row < self._switch_row:
            return self.first_line + int(row)
        return self._switch_line + int(self._line_index[row - self._switch_row])

    def error(self, row: int, message: str, fix: str | None = None) -> InputFormatError:
        return InputFormatError(message, path=self.path, line=self.line(row), fix=fix)

    def read_all(self) -> np.ndarray:
        """All rows as one ``(nrows, ncols)`` array."""
        parts = [v for _, v in self]
        return np.concatenate(parts) if parts else np.zeros((0, self.ncols))


def check_finite(values: np.ndarray, where, *, path: str, what: str) -> None:
    """Error at the first NaN/Inf of ``values``; ``where(flat_index) -> line`` locates it."""
    finite = np.isfinite(values)
    if finite.all():
        return
    k = int(np.argmin(finite.ravel()))
    raise InputFormatError(f"{what} contains {values.ravel()[k]} (not a finite number)",
                           path=path, line=where(k),
                           fix="the program that wrote the file produced NaN/Inf; check the "
                               "Wannier90 run (convergence, disentanglement window)")
