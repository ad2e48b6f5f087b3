"""Writers of Wannier90 3.1 files, for models built here (examples, tests, ``prepare``).

The layouts are those of Wannier90's own writers, so that wanphonon's readers and
other codes (WannierBerri, postw90) read the files alike:

* ``_hr.dat``: header, num_wann, nrpts, ndegen ``(15I5)``, lines ``(5I5,2F12.6)``
  ``R1 R2 R3 m n Re Im`` with m fastest;
* ``_tb.dat``: header, three lattice lines (A), num_wann, nrpts, ndegen, then for
  each R a blank line, ``R`` and ``m n Re Im`` lines ``(2I5,3x,2(E15.8,1x))``, then
  the same for the position matrix ``m n x y z`` (complex, A);
* ``_wsvec.dat``: ``R m n``, ndeg and the ndeg minimal-image lattice translations;
* ``_centres.xyz``: count, comment, ``X x y z`` per Wannier centre, then the atoms;
* ``.win``: ``num_wann``, ``unit_cell_cart`` and ``atoms_cart`` in Angstrom and any
  extra keywords and blocks.

Matrices are given as Wannier90 stores them: ``H[r, m, n] = <0 m| H |R_r n>``
times ``ndegen[r]`` (not divided).  ``precise=True`` writes every real number
with 17 significant digits instead of Wannier90's fixed widths, so that a model
survives a round trip exactly.
"""

from __future__ import annotations

import os

import numpy as np


HEADER = " written by wanphonon"


def fortran_e(x: float, w: int = 15, d: int = 8) -> str:
    """Fortran ``Ew.d``: ``0.dddddddE+xx`` (mantissa in [0.1, 1)), right-justified."""
    if x == 0.0:
        s = "0." + "0" * d + "E+00"
    else:
        mant, exp = f"{abs(x):.{d - 1}e}".split("e")
        s = "0." + mant.replace(".", "") + f"E{int(exp) + 1:+03d}"
        if x < 0:
            s = "-" + s
    return s.rjust(w)


def _num(x: float, kind: str, precise: bool) -> str:
    if precise:
        return f"{x:26.17E}"
    return f"{x:12.6f}" if kind == "F" else fortran_e(x) + " "


def _ndegen_lines(ndegen) -> str:
    return "".join("".join(f"{d:5d}" for d in ndegen[i:i + 15]) + "\n"
                   for i in range(0, len(ndegen), 15))


def write_hr(path, R, ndegen, H, precise: bool = False) -> None:
    """``seedname_hr.dat`` from ``R (nR, 3)``, ``ndegen (nR,)``, ``H (nR, N, N)`` (not divided)."""
    nw = H.shape[1]
    out = [HEADER + "\n", f"{nw:12d}\n", f"{len(R):12d}\n", _ndegen_lines(ndegen)]
    for r, Rv in enumerate(R):
        for n in range(nw):
            for m in range(nw):
                z = H[r, m, n]
                out.append(f"{Rv[0]:5d}{Rv[1]:5d}{Rv[2]:5d}{m + 1:5d}{n + 1:5d}"
                           f"{_num(z.real, 'F', precise)}{_num(z.imag, 'F', precise)}\n")
    with open(path, "w") as f:
        f.write("".join(out))


def write_tb(path, lattice, R, ndegen, H, pos, precise: bool = False) -> None:
    """``seedname_tb.dat``; ``pos (nR, N, N, 3)`` complex position matrix (A), not divided."""
    nw = H.shape[1]
    out = [HEADER + "\n"]
    out += ["".join(f"{x:26.16f}" for x in a) + "     \n" for a in lattice]
    out += [f"{nw:12d}\n", f"{len(R):12d}\n", _ndegen_lines(ndegen)]
    for r, Rv in enumerate(R):
        out.append(f"\n{Rv[0]:5d}{Rv[1]:5d}{Rv[2]:5d}\n")
        for n in range(nw):
            for m in range(nw):
                z = H[r, m, n]
                out.append(f"{m + 1:5d}{n + 1:5d}   {_num(z.real, 'E', precise)}"
                           f"{_num(z.imag, 'E', precise)}\n")
    for r, Rv in enumerate(R):
        out.append(f"\n{Rv[0]:5d}{Rv[1]:5d}{Rv[2]:5d}\n")
        for n in range(nw):
            for m in range(nw):
                vals = "".join(_num(c, "E", precise) for z in pos[r, m, n] for c in (z.real, z.imag))
                out.append(f"{m + 1:5d}{n + 1:5d}   {vals}\n")
    with open(path, "w") as f:
        f.write("".join(out))


def write_wsvec(path, R, shifts, nw, use_ws: bool = True) -> None:
    """``seedname_wsvec.dat``; ``shifts[(r, m, n)]`` ``(ndeg, 3)`` lattice translations (0-based m, n)."""
    flag = ".true." if use_ws else ".false."
    out = [f"## {HEADER.strip()} with use_ws_distance={flag}\n"]
    for r, Rv in enumerate(R):
        for m in range(nw):
            for n in range(nw):
                T = shifts[(r, m, n)]
                out.append(f"{Rv[0]:5d}{Rv[1]:5d}{Rv[2]:5d}{m + 1:5d}{n + 1:5d}\n{len(T):5d}\n")
                out += [f"{t[0]:5d}{t[1]:5d}{t[2]:5d}\n" for t in T]
    with open(path, "w") as f:
        f.write("".join(out))


def write_centres_xyz(path, centres, symbols=(), atoms=()) -> None:
    """``seedname_centres.xyz``: Wannier centres (``X``) then atoms, Cartesian A."""
    out = [f"{len(centres) + len(atoms):6d}\n", " Wannier centres, written by wanphonon\n"]
    out += [f"X   {c[0]:17.8f}{c[1]:17.8f}{c[2]:17.8f}\n" for c in centres]
    out += [f"{s:<4s}{a[0]:17.8f}{a[1]:17.8f}{a[2]:17.8f}\n" for s, a in zip(symbols, atoms)]
    with open(path, "w") as f:
        f.write("".join(out))


def write_win(path: str, num_wann: int, lattice: np.ndarray, symbols, positions, *,
              keywords: dict | None = None, blocks: dict | None = None, comment: str = "") -> None:
    """A Wannier90 ``.win`` with the cell and atoms in Angstrom, keywords and blocks."""
    lines = [f"! {comment}"] if comment else []
    lines.append(f"num_wann = {num_wann}")
    for key, value in (keywords or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        lines.append(f"{key} = {value}")
    lines += ["", "begin unit_cell_cart", "ang",
              *("  " + "".join(f"{x:20.12f}" for x in row) for row in lattice), "end unit_cell_cart",
              "", "begin atoms_cart", "ang",
              *(f"{s:<3s}" + "".join(f"{x:20.12f}" for x in p) for s, p in zip(symbols, positions)),
              "end atoms_cart"]
    for name, content in (blocks or {}).items():
        lines += ["", f"begin {name}", *content, f"end {name}"]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


#: The standard frozen-phonon runs: seedname -> displacement in units of delta.
FROZEN_PHONON_RUNS = {"eq": (0, 0), "xp": (1, 0), "xm": (-1, 0), "yp": (0, 1), "ym": (0, -1)}


def write_frozen_phonon_runs(folder: str, tb, delta: float) -> dict[str, tuple[float, float]]:
    """A tight-binding model with dH/du written as Wannier90 ``_tb.dat`` runs (17 digits).

    Run ``s`` of :data:`FROZEN_PHONON_RUNS` holds ``H(R) + u . dH/du(R)`` (exactly linear in u)
    and the Wannier centres ``tau + u . dtau/du`` on the diagonal of the R = 0 position matrix,
    with ``u = delta * FROZEN_PHONON_RUNS[s]`` (A).  Returns ``{seedname: (u_x, u_y)}``.
    """
    n = tb.num_bands
    ones = np.ones(len(tb.R), dtype=int)
    origin = int(np.flatnonzero(~tb.R.any(axis=1))[0])
    runs = {}
    for seed, (sx, sy) in FROZEN_PHONON_RUNS.items():
        u = (delta * sx, delta * sy)
        pos = np.zeros(tb.H_R.shape + (3,), dtype=complex)
        pos[origin, np.arange(n), np.arange(n)] = tb.centres + u[0] * tb.dcentres[0] + u[1] * tb.dcentres[1]
        write_tb(os.path.join(folder, f"{seed}_tb.dat"), tb.lattice, tb.R, ones,
                 tb.H_R + u[0] * tb.dH_R[0] + u[1] * tb.dH_R[1], pos, precise=True)
        runs[seed] = u
    return runs


def displacement_tables(runs: dict[str, tuple[float, float]]) -> str:
    """``[[displacement]]`` TOML tables for the displaced runs of ``runs`` (all but ``eq``)."""
    return "".join(f'[[displacement]]\nseedname = "{s}"\nu = [{ux!r}, {uy!r}]\n'
                   for s, (ux, uy) in runs.items() if s != "eq")
