"""Integrands along a path in the Brillouin zone (for plots and inspection).

The path is given by special-point labels of ASE's band-path tables for the
lattice (e.g. ``"GKMG"`` for a hexagonal 2D cell, ``"GXMG"`` for a square one),
via :meth:`ase.cell.Cell.bandpath`.  The k-resolved integrands are defined up to
total k-derivatives (docs/theory.md), so a path shows where contributions sit,
not a gauge-independent density.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.cell import Cell

from ..errors import ConfigError
from ..geometry.bands import diagonalize
from ..geometry.integrands import KResolved, evaluate


@dataclass
class PathData:
    """Bands and integrands along a k-path.

    x: ``(nk,)`` path coordinate (1/A); ticks, labels: special points;
    energies: ``(nk, N)`` eV; values: :class:`KResolved` at each k (integrands per spin).
    """

    x: np.ndarray
    ticks: np.ndarray
    labels: list[str]
    energies: np.ndarray
    values: KResolved


def along_path(system, path: str | None, npoints: int, *, n_occ=None, fermi_energy=None) -> PathData:
    """Evaluate ``system`` (a lattice model) along ``path`` with ``npoints`` points.

    ``path``: special-point labels (``"GKMG"``), or None for the first continuous
    segment of ASE's default path for the lattice.
    """
    if not hasattr(system, "lattice"):
        raise ConfigError("a k-path needs a lattice model (Wannier input or a *_lattice model)",
                          fix="use a lattice system, or the built-in plots of continuum models")
    cell = Cell(system.lattice)
    pbc = [True, True, bool(np.any(system.R[:, 2]))]
    if path is None:
        path = cell.bandpath(npoints=0, pbc=pbc).path.split(",")[0]
    try:
        bp = cell.bandpath(path, npoints=npoints, pbc=pbc)
    except (ValueError, KeyError) as exc:
        special = "".join(cell.bandpath(npoints=0, pbc=pbc).special_points)
        raise ConfigError(f"unknown k-path {path!r} for this lattice ({exc})",
                          fix=f"use special points of this lattice: {special}") from None
    k_cart = bp.kpts @ cell.reciprocal() * 2 * np.pi
    derivs = system.derivatives(k_cart)
    eig = diagonalize(derivs.H, n_occ=n_occ, fermi_energy=fermi_energy)
    values = evaluate(derivs, eig)
    x, ticks, labels = bp.get_linear_kpoint_axis()
    return PathData(np.asarray(x), np.asarray(ticks),
                    [("Γ" if lab == "G" else lab) for lab in labels], eig.energies, values)
