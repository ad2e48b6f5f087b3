"""A toy force-constant model (springs between neighbours) as a Phonopy object, for tests and examples.

Each shell ``(distance, k_long, k_trans)`` couples every pair of atoms at that
distance (within ``tolerance``) by ``k_long e e^T + k_trans (1 - e e^T)`` (eV/A^2),
``e`` the bond direction; the on-site blocks restore the acoustic sum rule.  The
force constants are set on the Phonopy supercell (periodic images included), so
the dynamical matrix is exact at every q-point commensurate with the supercell.
Not a physical model: it only has to give phonons with the right symmetry.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms


def spring_force_constants(positions: np.ndarray, cell: np.ndarray, shells, tolerance: float = 1e-3,
                           images: int = 2) -> np.ndarray:
    """Force constants ``(n, n, 3, 3)`` of the spring model on a periodic cell."""
    n = len(positions)
    fc = np.zeros((n, n, 3, 3))
    shifts = np.array(list(itertools.product(range(-images, images + 1), repeat=3))) @ cell
    for i in range(n):
        for j in range(n):
            d = positions[j][None] + shifts - positions[i][None]
            r = np.linalg.norm(d, axis=1)
            for dist, k_long, k_trans in shells:
                for vec in d[np.abs(r - dist) < tolerance]:
                    e = vec / np.linalg.norm(vec)
                    fc[i, j] -= k_long * np.outer(e, e) + k_trans * (np.eye(3) - np.outer(e, e))
    for i in range(n):
        fc[i, i] = 0.0
        fc[i, i] = -fc[i].sum(axis=0)
    return fc


def spring_phonopy(atoms: Atoms, shells, supercell=(3, 3, 1), masses=None):
    """A Phonopy object for ``atoms`` (its own primitive cell) with the spring model's force constants."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:],
                        scaled_positions=atoms.get_scaled_positions(),
                        masses=atoms.get_masses() if masses is None else masses)
    matrix = np.diag(supercell) if np.ndim(supercell) == 1 else np.asarray(supercell)
    ph = Phonopy(unit, supercell_matrix=matrix, primitive_matrix=None)
    sc = ph.supercell
    fc = spring_force_constants(np.asarray(sc.positions), np.asarray(sc.cell), shells)
    ph.force_constants = fc[ph.primitive.p2s_map]        # phonopy's compact form
    return ph
