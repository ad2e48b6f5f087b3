"""Reader for Wannier90's ``seedname_centres.xyz`` (``write_xyz = true``).

An XYZ file, Cartesian Angstrom::

    natoms                       number of lines that follow the comment
    comment
    X  x y z                     one line per Wannier centre (symbol X) ...
    Sym x y z                    ... then one line per atom

Wannier90 writes the centres first, then the atoms.  With
``translate_home_cell = true`` the centres are translated into the home cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from .text import LineCursor, parse_float, parse_int, read_bytes

__all__ = ["CentresFile", "read_centres_xyz"]


@dataclass(frozen=True)
class CentresFile:
    """Wannier centres ``(N, 3)`` and atoms ``(na, 3)`` (Angstrom) with the atoms' symbols."""

    centres: np.ndarray    # (N, 3) Angstrom
    symbols: list[str]     # atoms
    atoms: np.ndarray      # (na, 3) Angstrom
    path: str = ""


def read_centres_xyz(path) -> CentresFile:
    """Read a ``_centres.xyz`` file: the count, the coordinates (finite), centres before atoms."""
    path = str(path)
    data = read_bytes(path, what="Wannier90 _centres.xyz file")
    cur = LineCursor(data, path)
    fix = "re-create the file with Wannier90 (write_xyz = true)"
    n, line = cur.next_nonblank("the number of lines (first line of an XYZ file)")
    toks = line.split()
    if len(toks) != 1:
        raise InputFormatError(f"expected the number of entries (one integer), found {line.strip()!r}",
                               path=path, line=n, fix=fix)
    count = parse_int(toks[0], path=path, line=n, what="the number of entries")
    if count < 1:
        raise InputFormatError(f"the number of entries must be positive, found {count}",
                               path=path, line=n, fix=fix)
    cur.next("a comment line")
    symbols, xyz = [], []
    for _ in range(count):
        n, line = cur.next_nonblank(f"{count} lines 'Symbol x y z' (count on line 1)")
        toks = line.split()
        if len(toks) != 4:
            raise InputFormatError(f"expected 'Symbol x y z', found {len(toks)} items", path=path,
                                   line=n, fix=fix)
        symbols.append(toks[0])
        xyz.append([parse_float(t, path=path, line=n, what=f"coordinate {'xyz'[j]}")
                    for j, t in enumerate(toks[1:])])
    while not cur.at_end():
        n, line = cur.lineno, cur.next("")
        if line.strip():
            raise InputFormatError(f"more lines than the {count} announced on line 1", path=path,
                                   line=n, fix=fix)
    is_x = np.array([s.upper() == "X" for s in symbols])
    nx = int(is_x.sum())
    if nx == 0:
        raise InputFormatError("no Wannier centres (lines with symbol 'X') in the file", path=path,
                               fix=fix)
    if not is_x[:nx].all():
        raise InputFormatError("the Wannier centres (symbol 'X') must come before the atoms",
                               path=path, line=3 + int(np.argmin(is_x[:nx])), fix=fix)
    xyz = np.array(xyz, float).reshape(-1, 3)
    return CentresFile(path=path, centres=xyz[:nx], symbols=symbols[nx:], atoms=xyz[nx:])
