"""Phonon eigenvectors from phonopy: a Phonopy object, phonopy.yaml, or band/qpoints/mesh.yaml.

Phonopy's convention (used throughout): the displacement of atom ``kappa`` in
cell ``L`` is ``u = e_kappa(q) exp(i q.r(kappa, L)) / sqrt(m_kappa)`` with the
full atomic position ``r(kappa, L) = R_L + tau_kappa``; ``e`` is mass-weighted
and normalised; ``q`` in reduced coordinates of the primitive reciprocal cell.

:class:`PhononSource` gives ``(frequencies, eigenvectors)`` at any q-point (a
yaml file only at the q-points it lists), the primitive cell and the masses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from ase import Atoms

from ..errors import ConfigError


@dataclass
class PhononSource:
    primitive: Atoms
    masses: np.ndarray
    description: str
    _modes: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    qpoints: np.ndarray | None = None      # the q-points a yaml file lists (None: any)

    def modes_at(self, q, where: str) -> tuple[np.ndarray, np.ndarray]:
        """``(frequencies (nb,) THz, eigenvectors (3n, nb))``; column ``b`` is band ``b``."""
        return self._modes(np.asarray(q, float))

    def reordered(self, order: np.ndarray, atoms: Atoms) -> "PhononSource":
        """The same phonons with the atoms in ``atoms``' order: ``order[i]`` = source atom of atom i."""
        idx = np.array([3 * k + a for k in order for a in range(3)])
        inner = self._modes

        def modes(q):
            f, e = inner(q)
            return f, e[idx]
        return PhononSource(atoms, self.masses[order], self.description, modes, self.qpoints)


def _phonopy_atoms_to_ase(cell) -> Atoms:
    return Atoms(list(cell.symbols), scaled_positions=np.asarray(cell.scaled_positions),
                 cell=np.asarray(cell.cell), pbc=True)


def from_phonopy(ph: Any, description: str = "Phonopy object") -> PhononSource:
    """A Phonopy object with force constants."""
    if getattr(ph, "force_constants", None) is None:
        raise ConfigError(f"{description} has no force constants",
                          fix="produce them first (phonopy.produce_force_constants(), or a phonopy.yaml "
                              "with FORCE_SETS / FORCE_CONSTANTS next to it)")
    prim = ph.primitive

    def modes(q):
        ph.run_qpoints([q], with_eigenvectors=True)
        res = getattr(ph, "qpoints", None)
        if res is not None and getattr(res, "eigenvectors", None) is not None:
            return np.asarray(res.frequencies[0]), np.asarray(res.eigenvectors[0])
        d = ph.get_qpoints_dict()          # older phonopy
        return np.asarray(d["frequencies"][0]), np.asarray(d["eigenvectors"][0])
    return PhononSource(_phonopy_atoms_to_ase(prim), np.asarray(prim.masses, float), description, modes)


def _load_phonopy_yaml(path: str, where: str) -> PhononSource:
    import phonopy
    folder = os.path.dirname(os.path.abspath(path))
    kwargs = {}
    for name, key in (("FORCE_CONSTANTS", "force_constants_filename"),
                      ("force_constants.hdf5", "force_constants_filename"),
                      ("FORCE_SETS", "force_sets_filename"), ("BORN", "born_filename")):
        if os.path.exists(os.path.join(folder, name)) and key not in kwargs:
            kwargs[key] = os.path.join(folder, name)
    try:
        ph = phonopy.load(path, **kwargs)
    except Exception as exc:
        raise ConfigError(f"phonopy cannot load {path}: {type(exc).__name__}: {exc}", path=where,
                          fix="give a phonopy.yaml / phonopy_params.yaml with force constants or forces "
                              "(FORCE_SETS / FORCE_CONSTANTS in the same folder)") from None
    return from_phonopy(ph, f"phonopy ({os.path.basename(path)})")


def _load_eigenvector_yaml(data: dict, path: str, structure: Atoms | None, masses, where: str) -> PhononSource:
    entries = data["phonon"]
    if not entries or "eigenvector" not in entries[0]["band"][0]:
        raise ConfigError(f"{path} has no eigenvectors", path=where,
                          fix="rerun phonopy with EIGENVECTORS = .TRUE. (--eigvecs)")
    if "points" in data and "lattice" in data:
        prim = Atoms([p["symbol"] for p in data["points"]],
                     scaled_positions=[p["coordinates"] for p in data["points"]],
                     cell=data["lattice"], pbc=True)
        m = np.array([p.get("mass", 0.0) for p in data["points"]], float)
        if np.any(m <= 0):
            m = prim.get_masses()
    elif structure is not None:
        prim = structure
        m = np.asarray(masses if masses is not None else structure.get_masses(), float)
    else:
        raise ConfigError(f"{path} does not contain the structure", path=where,
                          fix="give [structure] file (the primitive cell of the phonopy calculation)")
    qs = np.array([e["q-position"] for e in entries], float)
    freqs = [np.array([b["frequency"] for b in e["band"]], float) for e in entries]
    vecs = []
    for e in entries:
        v = np.array([b["eigenvector"] for b in e["band"]], float)      # (nb, natom, 3, 2)
        vecs.append((v[..., 0] + 1j * v[..., 1]).reshape(len(e["band"]), -1).T)

    def modes(q):
        d = qs - q[None]
        hit = np.flatnonzero(np.all(np.abs(d - np.rint(d)) < 1e-6, axis=1))
        if len(hit) == 0:
            raise ConfigError(f"{path} has no phonons at q = {np.round(q, 6).tolist()}", path=where,
                              fix=f"compute them there, or choose one of the listed q-points "
                                  f"{np.round(qs, 4).tolist()[:8]}")
        i = hit[0]
        shift = np.rint(d[i])                  # q_listed = q + G: back to q (full-position phases)
        if np.any(shift != 0):
            tau = prim.get_scaled_positions(wrap=False)
            phase = np.repeat(np.exp(2j * np.pi * tau @ shift), 3)
            return freqs[i], vecs[i] * phase[:, None]
        return freqs[i], vecs[i]
    return PhononSource(prim, m, f"phonopy eigenvectors ({os.path.basename(path)})", modes, qs)


def load_source(path: str, structure: Atoms | None, masses, where: str) -> PhononSource:
    """Phonons from a phonopy file: phonopy(.yaml, _params.yaml, _disp.yaml) or band/qpoints/mesh.yaml."""
    import yaml
    if not os.path.exists(path):
        raise ConfigError(f"phonopy file {path} not found", path=where,
                          fix="check [mode] phonopy (relative paths start at the configuration file)")
    with open(path) as fh:
        try:
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}", path=where) from None
    if isinstance(data, dict) and isinstance(data.get("phonon"), list):
        return _load_eigenvector_yaml(data, path, structure, masses, where)
    if isinstance(data, dict) and ("phonopy" in data or "unit_cell" in data or "primitive_cell" in data):
        return _load_phonopy_yaml(path, where)
    raise ConfigError(f"{path} is neither a phonopy.yaml nor a band/qpoints/mesh.yaml", path=where,
                      fix="give phonopy.yaml (with force constants) or a yaml file with eigenvectors")


def match_atoms(source: PhononSource, atoms: Atoms, where: str, tol: float = 1e-3) -> PhononSource:
    """The phonons re-expressed for ``atoms`` (the user's structure), which must be the same crystal."""
    prim = source.primitive
    if len(prim) != len(atoms):
        raise ConfigError(f"the structure has {len(atoms)} atoms but the phonon calculation's primitive "
                          f"cell has {len(prim)}", path=where,
                          fix="give the primitive cell of the phonopy calculation as [structure] file "
                              "(and build larger cells with [structure] supercell)")
    diff = np.abs(atoms.cell[:] - prim.cell[:]).max()
    if diff > tol:
        raise ConfigError(f"the lattice vectors of the structure differ from those of the phonon "
                          f"calculation by up to {diff:.3g} A", path=where,
                          fix="use the same cell (same lattice vectors, same orientation) in both")
    fa, fp = atoms.get_scaled_positions(), prim.get_scaled_positions()
    order = []
    for i, f in enumerate(fa):
        d = fp - f
        d -= np.rint(d)
        dist = np.linalg.norm(d @ atoms.cell[:], axis=1)
        j = int(np.argmin(dist))
        if dist[j] > tol or prim.get_chemical_symbols()[j] != atoms.get_chemical_symbols()[i]:
            raise ConfigError(f"atom {i} ({atoms.get_chemical_symbols()[i]}) of the structure has no "
                              "counterpart in the phonon calculation", path=where,
                              fix="use the same structure for the phonons and for prepare")
        order.append(j)
    if sorted(order) != list(range(len(atoms))):
        raise ConfigError("the atoms of the structure and of the phonon calculation do not match one to "
                          "one", path=where)
    # full-position Bloch phases: an atom shifted by a lattice vector needs no correction
    return source.reordered(np.array(order), atoms)
