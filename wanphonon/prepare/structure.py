"""The equilibrium structure: reading, supercells, atom labels, slab detection.

* Any file ASE reads (POSCAR, pw.x input or output, CIF, extxyz); the last image
  of a trajectory (a relaxation's final structure).
* A supercell ``S`` (rows: the new lattice vectors in units of the old ones,
  ``A_s = S A``) is built cell-major: for each lattice point ``n`` (origin first),
  every atom of the primitive cell.  Each atom remembers its primitive atom and
  ``n``, for the Bloch phases of folded zone-boundary modes.
* Labels: the chemical symbol when the species occurs once in the cell, else
  symbol + running number within the species (``C1`` ... ``C6``).  The labels
  name the ions in ``wanphonon.toml`` and in the ``.win`` atoms (Wannier90 and
  :mod:`wanphonon.frozen_phonon.consistency` identify atoms by label).
* Vacuum: a lattice direction whose height exceeds :data:`SLAB_HEIGHT_A` and in
  which the atoms leave an empty gap of at least :data:`SLAB_GAP_A` makes the
  structure a 2D slab.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import ConfigError

#: A lattice direction is a vacuum direction when the cell is at least this high along it ...
SLAB_HEIGHT_A = 8.0
#: ... and the atoms leave an empty gap of at least this much.
SLAB_GAP_A = 5.0


@dataclass
class Structure:
    """The structure of every run: the (super)cell, labels and, per atom, its origin in the primitive cell."""

    atoms: Atoms                 # final cell, Cartesian positions (A)
    labels: list[str]
    masses: np.ndarray           # amu
    primitive: Atoms             # the cell the supercell is built from
    supercell: np.ndarray        # (3, 3) integer
    prim_index: np.ndarray       # (n,) index of each atom in the primitive cell
    lattice_point: np.ndarray    # (n, 3) integer lattice point (primitive units) of each atom
    vacuum_axis: int | None      # lattice vector along which there is vacuum (2D slab), else None
    vacuum_A: float = 0.0        # thickness of the vacuum gap (A)
    source: str = ""

    @property
    def is_2d(self) -> bool:
        return self.vacuum_axis is not None

    @property
    def symbols(self) -> list[str]:
        return self.atoms.get_chemical_symbols()

    def index_of(self, name, where: str) -> int:
        """Atom index for a label (case-insensitive), a unique chemical symbol or a 0-based index."""
        if isinstance(name, int) and not isinstance(name, bool):
            if not 0 <= name < len(self.labels):
                raise ConfigError(f"atom index {name} is out of range (the cell has {len(self.labels)} "
                                  "atoms, counted from 0)", path=where)
            return name
        text = str(name).strip()
        if text.isdigit():
            return self.index_of(int(text), where)
        for i, lab in enumerate(self.labels):
            if lab.lower() == text.lower():
                return i
        raise ConfigError(f"no atom is labelled {text!r}", path=where,
                          fix=f"use one of the labels {', '.join(self.labels)} or a 0-based index")


def read_structure(path: str, fmt: str | None, where: str) -> Atoms:
    """The structure in ``path`` (the last image of a trajectory)."""
    import ase.io
    if not os.path.exists(path):
        raise ConfigError(f"structure file {path} not found", path=where,
                          fix="check [structure] file (relative paths start at the configuration file)")
    try:
        atoms = ase.io.read(path, format=fmt) if fmt else ase.io.read(path)
    except Exception as exc:  # ASE raises many kinds
        raise ConfigError(f"ASE cannot read the structure in {path}: {type(exc).__name__}: {exc}",
                          path=where, fix="give [structure] format = \"<ase format>\" (e.g. \"vasp\", "
                                          "\"espresso-in\", \"cif\", \"extxyz\")") from None
    if isinstance(atoms, list):
        atoms = atoms[-1]
    if len(atoms) == 0 or not all(atoms.pbc) and np.linalg.matrix_rank(atoms.cell[:]) < 3:
        raise ConfigError(f"the structure in {path} has no atoms or no 3D cell", path=where,
                          fix="give a periodic structure with three lattice vectors (vacuum for a slab)")
    return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell[:], pbc=True)


def supercell_matrix(value) -> np.ndarray:
    s = np.array(value, dtype=float)
    s = np.diag(s) if s.shape == (3,) else s
    return np.rint(s).astype(int)


def lattice_points(S: np.ndarray) -> np.ndarray:
    """Integer lattice points ``n`` of the primitive lattice inside the supercell ``S`` (origin first)."""
    det = int(round(abs(np.linalg.det(S))))
    corners = np.array(list(itertools.product((0, 1), repeat=3))) @ S
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    inv = np.linalg.inv(S.astype(float))
    pts = []
    for n in itertools.product(*(range(a, b + 1) for a, b in zip(lo, hi))):
        f = np.array(n, float) @ inv
        if np.all(f > -1e-9) and np.all(f < 1 - 1e-9):
            pts.append(n)
    pts.sort(key=lambda n: (np.abs(n).sum(), n))
    assert len(pts) == det, (len(pts), det)
    return np.array(pts, dtype=int)


def labels_for(symbols: list[str]) -> list[str]:
    counts = {s: symbols.count(s) for s in symbols}
    seen: dict[str, int] = {}
    out = []
    for s in symbols:
        if counts[s] == 1:
            out.append(s)
        else:
            seen[s] = seen.get(s, 0) + 1
            out.append(f"{s}{seen[s]}")
    return out


def vacuum_direction(atoms: Atoms) -> tuple[int | None, float]:
    """(axis, gap in A) of the lattice direction with vacuum, or (None, 0)."""
    cell = atoms.cell[:]
    volume = abs(np.linalg.det(cell))
    frac = atoms.get_scaled_positions(wrap=True)
    found = []
    for i in range(3):
        j, k = [x for x in range(3) if x != i]
        height = volume / np.linalg.norm(np.cross(cell[j], cell[k]))
        f = np.sort(frac[:, i])
        gaps = np.diff(np.concatenate([f, [f[0] + 1.0]]))
        gap = float(gaps.max()) * height
        if height > SLAB_HEIGHT_A and gap > SLAB_GAP_A:
            found.append((i, gap))
    if not found:
        return None, 0.0
    if len(found) > 1:
        raise ConfigError(f"the structure has vacuum along {len(found)} lattice directions (a molecule or "
                          "a wire)", fix="wanphonon handles bulk crystals and 2D slabs only")
    return found[0]


def build(atoms: Atoms, supercell, masses: np.ndarray | None, where: str, source: str = "") -> Structure:
    """The structure of the runs: ``atoms`` (the primitive cell) repeated by ``supercell``."""
    S = supercell_matrix(supercell if supercell is not None else np.eye(3))
    if round(np.linalg.det(S)) == 0:
        raise ConfigError("[structure] supercell is singular", path=where, fix="give a matrix with det != 0")
    if np.linalg.det(S) < 0:
        raise ConfigError("[structure] supercell has a negative determinant (left-handed cell)", path=where,
                          fix="change the sign of one row")
    prim_masses = np.asarray(masses if masses is not None else atoms.get_masses(), float)
    pts = lattice_points(S)
    frac = atoms.get_scaled_positions(wrap=False)
    index = np.array([k for _ in pts for k in range(len(atoms))])
    lattice = np.array([n for n in pts for _ in range(len(atoms))])
    cell = S @ atoms.cell[:]
    pos = (lattice + frac[index]) @ atoms.cell[:]
    sfrac = pos @ np.linalg.inv(cell)
    shift = np.floor(sfrac + 1e-8)        # wrap into the supercell (Bloch phases are unaffected)
    pos = (sfrac - shift) @ cell
    pos[np.abs(pos) < 1e-12] = 0.0
    symbols = [atoms.get_chemical_symbols()[k] for k in index]
    big = Atoms(symbols, positions=pos, cell=cell, pbc=True)
    axis, gap = vacuum_direction(big)
    if axis is not None:
        if axis != 2:
            raise ConfigError(f"the vacuum of this slab is along lattice vector a{axis + 1}", path=where,
                              fix="order the lattice vectors so that the vacuum is along a3 (and the "
                                  "layer in the xy plane)")
        if np.any(np.abs(cell[:2, 2]) > 1e-6):
            raise ConfigError("the layer is not in the xy plane (a1 or a2 has a z component)", path=where,
                              fix="rotate the structure so that a1 and a2 lie in the xy plane: u = (u_x, "
                                  "u_y) is the in-plane displacement")
    return Structure(big, labels_for(symbols), prim_masses[index], atoms, S, index, lattice, axis, gap,
                     source)
