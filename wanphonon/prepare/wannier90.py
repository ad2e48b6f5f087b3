"""The Wannier90 ``.win`` of every run: identical settings, only the atoms differ.

Written into every ``.win`` (with :func:`wanphonon.io.writers.write_win`):

* the user's ``[wannier]`` keywords (and ``extra``/``blocks``), the projections
  (species sites expanded to the atom labels where a species has several labels),
  ``mp_grid`` and the full Monkhorst-Pack ``kpoints`` block (Wannier90 order);
* always ``write_hr = write_tb = write_xyz = true``, ``translate_home_cell = false``,
  ``use_ws_distance = true`` (what ``wanphonon run`` reads; a conflicting user value
  is an error);
* for a slab (vacuum along a3): ``shell_list = 1`` and ``skip_B1_tests = true``
  unless given, and ``mp_grid`` must be ``n1 n2 1``;
* unless given, the settings that keep the gauge continuous between the runs
  (:data:`CONTINUOUS_GAUGE`: ``guiding_centres = true``, a fixed ``num_iter``; with
  disentanglement a fixed ``dis_num_iter`` and an unreachable ``dis_conv_tol``);
* the cell and the run's atoms (``unit_cell_cart``, ``atoms_cart``, Angstrom, labels).

The number of Wannier functions the projections ask for is counted where the
projection syntax is the standard one, and must equal ``num_wann``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..io.win import fortran_bool
from ..io.writers import write_win
from .structure import Structure

#: Settings wanphonon needs in every run: keyword -> required value.
REQUIRED = {"write_hr": True, "write_tb": True, "write_xyz": True, "translate_home_cell": False,
            "use_ws_distance": True}
#: Settings for a slab (vacuum along a3), unless the user gives them.
SLAB = {"shell_list": 1, "skip_b1_tests": True}
#: Settings that keep the gauge of every run tied to the projections, so that the displaced
#: runs come out continuous with the equilibrium run (docs/gauge.md), unless the user gives
#: them: guiding centres, and a fixed number of iterations (without ``conv_window``
#: Wannier90 always runs ``num_iter`` iterations).
CONTINUOUS_GAUGE = {"guiding_centres": True, "num_iter": 200}
#: ... and with disentanglement (num_bands > num_wann): a fixed number of disentanglement
#: iterations (a tolerance that is never reached).
CONTINUOUS_DISENTANGLEMENT = {"dis_num_iter": 400, "dis_conv_tol": 1e-12}

_ORBITALS = {"s": 1, "p": 3, "px": 1, "py": 1, "pz": 1, "d": 5, "dxy": 1, "dxz": 1, "dyz": 1,
             "dx2-y2": 1, "dz2": 1, "f": 7, "fz3": 1, "fxz2": 1, "fyz2": 1, "fz(x2-y2)": 1, "fxyz": 1,
             "fx(x2-3y2)": 1, "fy(3x2-y2)": 1, "sp": 2, "sp2": 3, "sp3": 4, "sp3d": 5, "sp3d2": 6}
_HYBRID = re.compile(r"(sp|sp2|sp3|sp3d|sp3d2)-\d$")
_L_COUNT = {-1: 2, -2: 3, -3: 4, -4: 5, -5: 6}


@dataclass
class WinTemplate:
    num_wann: int
    keywords: dict
    blocks: dict
    kpoints: np.ndarray            # (nk, 3) reduced, the order of the kpoints block
    num_bands: int                 # Wannier90 num_bands
    dft_bands: int                 # bands the DFT run must compute (num_bands + excluded)
    notes: list[str] = field(default_factory=list)


def _count_excluded(value) -> int:
    if value is None:
        return 0
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    count = 0
    for part in str(value).replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            count += int(b) - int(a) + 1
        else:
            count += 1
    return count


def _orbital_count(spec: str) -> int | None:
    total = 0
    for item in spec.split(";"):
        item = item.strip().lower()
        if item in _ORBITALS:
            total += _ORBITALS[item]
        elif _HYBRID.match(item):
            total += 1
        elif item.startswith("l="):
            m = re.fullmatch(r"l=(-?\d+)(?:,mr=([\d,]+))?", item)
            if m is None:
                return None
            l_val = int(m.group(1))
            if m.group(2):
                total += len([x for x in m.group(2).split(",") if x])
            else:
                total += 2 * l_val + 1 if l_val >= 0 else _L_COUNT.get(l_val, 0)
        else:
            return None
    return total


def _projections(lines: list[str], structure: Structure, where: str) -> tuple[list[str], int | None]:
    labels = structure.labels
    symbols = structure.symbols
    out, count = [], 0
    for line in lines:
        if line.strip().lower() in ("random",) or ":" not in line:
            out.append(line)
            count = None
            continue
        site, rest = line.split(":", 1)
        site_s = site.strip()
        low = site_s.lower()
        if low.startswith(("c=", "f=")):
            sites = [line]
            n_sites = 1
        elif any(lab.lower() == low for lab in labels):
            sites = [line]
            n_sites = 1
        elif any(s.lower() == low for s in symbols):
            members = [lab for lab, s in zip(labels, symbols) if s.lower() == low]
            sites = [f"{lab}:{rest}" for lab in members]
            n_sites = len(members)
        else:
            raise ConfigError(f"projection site {site_s!r} is not an atom of the structure", path=where,
                              fix=f"use a species ({', '.join(sorted(set(symbols)))}), a label "
                                  f"({', '.join(labels)}), c=x,y,z or f=x,y,z")
        out += sites
        n = _orbital_count(rest.split(":")[0])
        count = None if (count is None or n is None) else count + n * n_sites
    return out, count


def kpoint_grid(mp: list[int]) -> np.ndarray:
    """The full Monkhorst-Pack grid, Gamma included, in Wannier90's order (last index fastest)."""
    n1, n2, n3 = mp
    return np.array([(i / n1, j / n2, k / n3) for i in range(n1) for j in range(n2) for k in range(n3)])


def template(table: dict, structure: Structure, where: str) -> WinTemplate:
    """The settings shared by every run's ``.win`` (module docstring)."""
    table = dict(table)
    extra = table.pop("extra", {})
    user_blocks = table.pop("blocks", {})
    notes = []
    num_wann = table.pop("num_wann")
    mp = table.pop("mp_grid")
    projections, count = _projections(table.pop("projections"), structure, where)
    settings = {**table, **extra}
    spinors = fortran_bool(settings.get("spinors", False))
    if count is not None:
        count *= 2 if spinors else 1
        if count != num_wann:
            raise ConfigError(f"the projections ask for {count} Wannier functions but num_wann = {num_wann}",
                              path=where, fix="make num_wann equal to the number of projected orbitals")
    else:
        notes.append("the number of projected orbitals was not checked against num_wann (non-standard "
                     "projection syntax)")
    for key, want in REQUIRED.items():
        if key in settings and fortran_bool(settings[key]) is not want:
            raise ConfigError(f"[wannier] {key} = {settings[key]!r}: wanphonon needs {key} = "
                              f"{str(want).lower()}", path=where, fix=f"remove {key} (prepare sets it)")
        settings[key] = want
    if structure.is_2d:
        if mp[2] != 1:
            raise ConfigError(f"[wannier] mp_grid = {mp}: the structure is a slab (vacuum along a3), the grid "
                              "must be n1 x n2 x 1", path=where, fix=f"mp_grid = [{mp[0]}, {mp[1]}, 1]")
        for key, value in SLAB.items():
            if key not in settings:
                settings[key] = value
            else:
                notes.append(f"slab: your {key} = {settings[key]!r} is kept")
    num_bands = int(settings.get("num_bands", num_wann))
    if "num_bands" not in settings:
        settings = {"num_bands": num_bands, **settings}
    gauge = {**CONTINUOUS_GAUGE, **(CONTINUOUS_DISENTANGLEMENT if num_bands > num_wann else {})}
    for key, value in gauge.items():
        if key not in settings:
            settings[key] = value
        elif key == "guiding_centres" and fortran_bool(settings[key]) is False:
            notes.append("guiding_centres = false: the displaced runs may come out in another gauge "
                         "(see docs/gauge.md)")
    kpts = kpoint_grid(mp)
    blocks = {"projections": projections, **{k: list(v) for k, v in user_blocks.items()},
              "kpoints": [f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f}" for k in kpts]}
    keywords = {**{k: v for k, v in settings.items()}, "mp_grid": list(mp)}
    return WinTemplate(num_wann, keywords, blocks, kpts, num_bands,
                       num_bands + _count_excluded(settings.get("exclude_bands")), notes)


def write(path: str, tpl: WinTemplate, structure: Structure, positions: np.ndarray, comment: str) -> None:
    write_win(path, tpl.num_wann, structure.atoms.cell[:], structure.labels, positions,
              keywords=tpl.keywords, blocks=tpl.blocks, comment=comment)
