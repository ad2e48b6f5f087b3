"""Point groups (spglib) and the symmetry selection rule for the chiral pair's magnetic moment.

Criterion (docs/prepare.md).  The frozen-phonon moment is bilinear and
antisymmetric in the pair's coordinates: ``M = chi (u x du/dt)_z``-like, i.e. ``M``
is proportional to ``a_1 da_2/dt - a_2 da_1/dt`` for the pair coordinates ``a``.
A space-group operation ``g`` (rotation ``R`` in Cartesian form, atoms permuted)
that maps the pair's plane ``V`` onto itself acts on ``V`` by a 2x2 matrix
``R_V(g)`` and multiplies that antisymmetric product by ``det R_V(g)``.  The
moment, an axial vector, transforms as ``det(R) R M``.  Hence ``M`` is allowed
only in the subspace fixed by

    P = (1/|H|) sum_{g in H} det R_V(g) det(R) R,

``H`` the operations that leave ``V`` invariant (all of them for a symmetry-
adapted pair; for a pair that is part of a larger irreducible set, e.g. one
valley's mode at K, the others map it onto a partner and do not constrain it).
``M_z`` is allowed iff ``P e_z = e_z``, i.e. iff ``det R_V(g) = det(R) R_zz``
for all g in H: the antisymmetric square of the pair's representation is the
representation of ``R_z``.  Pure translations of a supercell are included (they
rotate a folded zone-boundary pair within ``V``).
"""

from __future__ import annotations

import numpy as np
import spglib
from ase import Atoms

from ..errors import ConfigError

#: International (Hermann-Mauguin) point-group symbols -> Schoenflies.
SCHOENFLIES = {
    "1": "C1", "-1": "Ci", "2": "C2", "m": "Cs", "2/m": "C2h", "222": "D2", "mm2": "C2v", "mmm": "D2h",
    "4": "C4", "-4": "S4", "4/m": "C4h", "422": "D4", "4mm": "C4v", "-42m": "D2d", "-4m2": "D2d",
    "4/mmm": "D4h", "3": "C3", "-3": "C3i", "32": "D3", "312": "D3", "321": "D3", "3m": "C3v",
    "3m1": "C3v", "31m": "C3v", "-3m": "D3d", "-3m1": "D3d", "-31m": "D3d", "6": "C6", "-6": "C3h",
    "6/m": "C6h", "622": "D6", "6mm": "C6v", "-6m2": "D3h", "-62m": "D3h", "6/mmm": "D6h", "23": "T",
    "m-3": "Th", "432": "O", "-43m": "Td", "m-3m": "Oh",
}

#: Relative residual below which an operation maps the pair's plane onto itself.
INVARIANCE_TOLERANCE = 1e-3


def _cell(atoms: Atoms):
    return (atoms.cell[:], atoms.get_scaled_positions(wrap=True), atoms.numbers)


def dataset(atoms: Atoms, symprec: float):
    ds = spglib.get_symmetry_dataset(_cell(atoms), symprec=symprec)
    if ds is None:
        raise ConfigError(f"spglib could not analyse the structure (symprec = {symprec})",
                          fix="check the structure, or change [structure] symprec")
    return ds


def point_group(atoms: Atoms, symprec: float) -> dict:
    """International and Schoenflies symbols of the point group, and the space group."""
    ds = dataset(atoms, symprec)
    pg = str(ds.pointgroup).strip()
    return {"international": pg, "schoenflies": SCHOENFLIES.get(pg, "?"),
            "space_group": f"{ds.international} ({ds.number})"}


def operations(atoms: Atoms, symprec: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every space-group operation as (Cartesian rotation 3x3, atom permutation ``perm[k]`` = image of k)."""
    ds = dataset(atoms, symprec)
    A = atoms.cell[:]
    L, Linv = A.T, np.linalg.inv(A.T)
    frac = atoms.get_scaled_positions(wrap=True)
    tol = max(10 * symprec, 1e-4)
    out = []
    for R, t in zip(ds.rotations, ds.translations):
        image = frac @ R.T + t
        perm = np.empty(len(atoms), int)
        for k, x in enumerate(image):
            d = frac - x
            d -= np.rint(d)
            dist = np.linalg.norm(d @ A, axis=1)
            j = int(np.argmin(dist))
            if dist[j] > tol or atoms.numbers[j] != atoms.numbers[k]:
                raise RuntimeError("spglib operation does not map the structure onto itself")
            perm[k] = j
        out.append((L @ R @ Linv, perm))
    return out


def moment_rule(atoms: Atoms, vectors: np.ndarray, symprec: float) -> dict:
    """The moment directions the pair ``vectors`` ``(n, 3, 2)`` allows (module docstring)."""
    ops = operations(atoms, symprec)
    E = vectors.reshape(-1, 2)
    pinv = np.linalg.pinv(E)
    norm = np.linalg.norm(E)
    P = np.zeros((3, 3))
    kept, rotations, chars = 0, [], []
    for g, perm in ops:
        moved = np.zeros_like(vectors)
        moved[perm] = np.einsum("ij,kjl->kil", g, vectors)
        moved = moved.reshape(-1, 2)
        RV = pinv @ moved
        if np.linalg.norm(moved - E @ RV) > INVARIANCE_TOLERANCE * norm:
            continue
        kept += 1
        frac_rot = np.rint(np.linalg.inv(atoms.cell[:].T) @ g @ atoms.cell[:].T).astype(int)
        rotations.append(frac_rot)
        d = float(np.linalg.det(RV))
        chars.append((round(d), round(float(np.linalg.det(g) * g[2, 2]))))
        P += np.sign(d) * np.linalg.det(g) * g
    P /= max(kept, 1)
    vals, vecs = np.linalg.eigh(0.5 * (P + P.T))
    allowed = vecs[:, vals > 0.5].T
    unique = np.unique(np.array(rotations).reshape(len(rotations), -1), axis=0).reshape(-1, 3, 3)
    sub = spglib.get_pointgroup(unique.astype("intc"))
    sub_symbol = str(sub[0]).strip() if sub is not None else "?"
    mz = bool(np.linalg.norm(P @ np.array([0.0, 0.0, 1.0]) - [0.0, 0.0, 1.0]) < 1e-6)
    inplane = bool(np.linalg.norm(P[:2, :2]) > 1e-6)
    return {"operations": len(ops), "operations_keeping_pair": kept,
            "pair_invariant_under_all": kept == len(ops),
            "stabiliser_point_group": {"international": sub_symbol,
                                       "schoenflies": SCHOENFLIES.get(sub_symbol, "?")},
            "out_of_plane_allowed": mz, "in_plane_allowed": inplane,
            "any_allowed": bool(len(allowed) > 0),
            "allowed_directions": [[float(round(x, 12)) + 0.0 for x in v] for v in allowed],
            "characters_det_RV_vs_Rz": sorted(set(chars))}


def verdict(rule: dict) -> str:
    """One sentence for the report."""
    kept, total = rule["operations_keeping_pair"], rule["operations"]
    scope = (f"all {total} space-group operations keep the pair's plane" if rule["pair_invariant_under_all"]
             else f"{kept} of the {total} space-group operations keep the pair's plane (point group "
                  f"{rule['stabiliser_point_group']['international']}); the others map it onto a partner mode")
    if rule["out_of_plane_allowed"]:
        what = "an out-of-plane moment M_z is allowed by symmetry"
        if rule["in_plane_allowed"]:
            what += ", and so is an in-plane moment"
    elif rule["any_allowed"]:
        what = ("M_z is forbidden by symmetry; a moment along "
                + ", ".join(str(np.round(v, 3).tolist()) for v in rule["allowed_directions"]) + " is allowed")
    else:
        what = "every moment of this pair is forbidden by symmetry (expect zero)"
    return f"{what} ({scope})"
