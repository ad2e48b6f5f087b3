"""Reader for Wannier90's input file ``seedname.win``.

Syntax (as Wannier90 reads it): comments start with ``!`` or ``#``;
keywords are case-insensitive; ``key = value``, ``key : value`` or
``key value``; blocks ``begin name`` ... ``end name``.  Understood in detail:
``num_wann``, ``num_bands``, ``mp_grid``, the blocks ``unit_cell_cart``
(optional first line ``bohr``/``ang``), ``atoms_cart`` (optional unit line)
and ``atoms_frac`` (fractional, needs the cell).  Every other keyword is kept
as a raw string in ``settings`` and every block as its lines in ``blocks``
(for consistency checks between runs).  Lengths are returned in Angstrom.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputFormatError
from ..units import BOHR_TO_ANGSTROM
from .tb import read_lattice_lines
from .text import parse_float, parse_int, read_bytes

__all__ = ["WinFile", "read_win"]

_KEY_RE = re.compile(r"\s*([A-Za-z_][\w]*)\s*(?:[=:]\s*|\s+|$)(.*)")


@dataclass(frozen=True)
class WinFile:
    """Content of a ``.win`` file (keys and block names lower-cased, values raw strings)."""

    lattice: np.ndarray | None     # (3, 3) Angstrom, rows a1..a3
    symbols: list[str]             # atom labels, as given (first letter capitalised)
    positions: np.ndarray | None   # (na, 3) Cartesian Angstrom
    mp_grid: np.ndarray | None     # (3,) int
    num_wann: int
    num_bands: int | None
    settings: dict[str, str]
    blocks: dict[str, list[str]]
    path: str = ""
    line_of: dict[str, int] = field(default_factory=dict)   # keyword/block -> line number
    block_line_numbers: dict[str, list[int]] = field(default_factory=dict, repr=False)


def fortran_bool(value) -> bool | None:
    """A Wannier90 logical (``T``, ``true``, ``.true.``, ``F``, ... any case; a Python bool
    passes through), or None if ``value`` is not one."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower().strip(".")
    return {"true": True, "t": True, "false": False, "f": False}.get(text)


def _strip_comment(line: str) -> str:
    cut = [i for i in (line.find("!"), line.find("#")) if i >= 0]
    return line[:min(cut)] if cut else line


def read_win(path) -> WinFile:
    """Read a Wannier90 ``.win`` file; errors name the line (unterminated block, duplicate keyword,
    wrong number of columns, missing ``num_wann``, ``atoms_frac`` without a cell, ...)."""
    path = str(path)
    text = read_bytes(path, what="Wannier90 .win file").decode("utf-8")
    settings: dict[str, str] = {}
    blocks: dict[str, list[str]] = {}
    numbers: dict[str, list[int]] = {}
    line_of: dict[str, int] = {}
    open_block: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        words = line.split()
        head = words[0].lower()
        if head in ("begin", "end"):
            if len(words) < 2:
                raise InputFormatError(f"'{words[0]}' without a block name", path=path, line=n,
                                       fix=f"write '{head} <block name>', e.g. '{head} unit_cell_cart'")
            name = words[1].lower()
            if len(words) > 2:
                raise InputFormatError(f"unexpected text after '{words[0]} {words[1]}'", path=path,
                                       line=n)
            if head == "begin":
                if open_block is not None:
                    raise InputFormatError(f"block '{open_block}' (line {line_of[open_block]}) is not "
                                           f"closed before 'begin {name}'", path=path, line=n,
                                           fix=f"add 'end {open_block}'")
                if name in blocks:
                    raise InputFormatError(f"block '{name}' appears twice (first at line "
                                           f"{line_of[name]})", path=path, line=n,
                                           fix="keep only one of them")
                open_block = name
                blocks[name], numbers[name], line_of[name] = [], [], n
            else:
                if open_block is None:
                    raise InputFormatError(f"'end {name}' without a matching 'begin {name}'",
                                           path=path, line=n)
                if name != open_block:
                    raise InputFormatError(f"'end {name}' closes block '{open_block}' (opened at line "
                                           f"{line_of[open_block]})", path=path, line=n,
                                           fix=f"write 'end {open_block}'")
                open_block = None
            continue
        if open_block is not None:
            blocks[open_block].append(line)
            numbers[open_block].append(n)
            continue
        m = _KEY_RE.match(line)
        if m is None:
            raise InputFormatError(f"cannot read this line as 'keyword = value': {line!r}",
                                   path=path, line=n)
        key, value = m.group(1).lower(), m.group(2).strip()
        if not value:
            raise InputFormatError(f"keyword '{key}' has no value", path=path, line=n,
                                   fix=f"write '{key} = <value>'")
        if key in settings or key in blocks:
            raise InputFormatError(f"keyword '{key}' is given twice (first at line {line_of[key]})",
                                   path=path, line=n, fix="keep only one of them")
        settings[key], line_of[key] = value, n
    if open_block is not None:
        raise InputFormatError(f"block '{open_block}' is never closed", path=path,
                               line=line_of[open_block], fix=f"add 'end {open_block}'")

    def integer(key: str, count: int = 1):
        toks = settings[key].split()
        if len(toks) != count:
            raise InputFormatError(f"'{key}' needs {count} integer{'s' * (count > 1)}, found "
                                   f"{settings[key]!r}", path=path, line=line_of[key])
        vals = [parse_int(t, path=path, line=line_of[key], what=key) for t in toks]
        if min(vals) < 1:
            raise InputFormatError(f"'{key}' must be positive, found {settings[key]!r}", path=path,
                                   line=line_of[key])
        return vals

    if "num_wann" not in settings:
        raise InputFormatError("keyword 'num_wann' is missing", path=path,
                               fix="add 'num_wann = <number of Wannier functions>'")
    num_wann = integer("num_wann")[0]
    num_bands = integer("num_bands")[0] if "num_bands" in settings else None
    mp_grid = np.array(integer("mp_grid", 3)) if "mp_grid" in settings else None
    lattice = _unit_cell(blocks, numbers, path)
    symbols, positions = _atoms(blocks, numbers, lattice, path)
    _check_kpoints(blocks, numbers, mp_grid, line_of, path)
    return WinFile(path=path, num_wann=num_wann, num_bands=num_bands, lattice=lattice,
                   symbols=symbols, positions=positions, mp_grid=mp_grid, settings=settings,
                   blocks=blocks, line_of=line_of, block_line_numbers=numbers)


def _check_kpoints(blocks, numbers, mp_grid, line_of, path) -> None:
    """The kpoints block: three finite numbers per line, one line per point of mp_grid."""
    if "kpoints" not in blocks:
        return
    for n, line in zip(numbers["kpoints"], blocks["kpoints"]):
        toks = line.split()
        if len(toks) != 3:
            raise InputFormatError(f"expected 3 fractional coordinates in block 'kpoints', found "
                                   f"{len(toks)} items", path=path, line=n)
        for j, t in enumerate(toks):
            parse_float(t, path=path, line=n, what=f"k-point coordinate {j + 1}")
    if mp_grid is not None and len(blocks["kpoints"]) != int(np.prod(mp_grid)):
        raise InputFormatError(f"block 'kpoints' lists {len(blocks['kpoints'])} k-points, but mp_grid = "
                               f"{' '.join(map(str, mp_grid))} has {int(np.prod(mp_grid))}",
                               path=path, line=line_of["kpoints"],
                               fix="give the full Monkhorst-Pack grid, as Wannier90 requires")


def _unit(lines: list[str], nums: list[int], path: str) -> tuple[float, list[str], list[int]]:
    """Split off an optional first line 'bohr'/'ang' -> (factor to Angstrom, rest, line numbers)."""
    if lines and len(lines[0].split()) == 1:
        word = lines[0].lower()
        if word in ("ang", "angstrom"):
            return 1.0, lines[1:], nums[1:]
        if word == "bohr":
            return BOHR_TO_ANGSTROM, lines[1:], nums[1:]
        raise InputFormatError(f"unknown length unit {lines[0]!r}", path=path, line=nums[0],
                               fix="write 'ang' or 'bohr' (or nothing, meaning Angstrom)")
    return 1.0, lines, nums


def _unit_cell(blocks, numbers, path) -> np.ndarray | None:
    if "unit_cell_cart" not in blocks:
        return None
    factor, lines, nums = _unit(blocks["unit_cell_cart"], numbers["unit_cell_cart"], path)
    if len(lines) != 3:
        where = nums[3] if len(lines) > 3 else (numbers["unit_cell_cart"] or [None])[0]
        raise InputFormatError(f"block 'unit_cell_cart' needs 3 lattice vectors, found {len(lines)} "
                               "lines", path=path, line=where,
                               fix="give a1, a2, a3 as three lines of three numbers")
    return factor * read_lattice_lines(list(zip(nums, lines)), path=path,
                                       what="unit_cell_cart block")


def _atoms(blocks, numbers, lattice, path) -> tuple[list[str], np.ndarray | None]:
    if "atoms_cart" in blocks and "atoms_frac" in blocks:
        raise InputFormatError("both 'atoms_cart' and 'atoms_frac' are given", path=path,
                               fix="keep only one of the two blocks")
    for name in ("atoms_cart", "atoms_frac"):
        if name not in blocks:
            continue
        lines, nums = blocks[name], numbers[name]
        factor = 1.0
        if name == "atoms_cart":
            factor, lines, nums = _unit(lines, nums, path)
        elif name == "atoms_frac" and lattice is None:
            raise InputFormatError("'atoms_frac' gives fractional coordinates but there is no "
                                   "'unit_cell_cart' block", path=path, line=nums[0] if nums else None,
                                   fix="add the 'unit_cell_cart' block, or give 'atoms_cart'")
        symbols, xyz = [], []
        for n, line in zip(nums, lines):
            toks = line.split()
            if len(toks) != 4:
                raise InputFormatError(f"expected 'Symbol x y z' in block '{name}', found "
                                       f"{len(toks)} items", path=path, line=n)
            symbols.append(toks[0][:1].upper() + toks[0][1:].lower())
            xyz.append([parse_float(t, path=path, line=n, what=f"coordinate {j + 1} of {toks[0]}")
                        for j, t in enumerate(toks[1:])])
        xyz = np.array(xyz, float).reshape(-1, 3)
        pos = xyz @ lattice if name == "atoms_frac" else factor * xyz
        return symbols, pos
    return [], None
