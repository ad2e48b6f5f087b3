"""What every system offers the engine, and what a builder hands to it.

A *system* is anything that returns ``H(k)`` and its first derivatives on a
stack of Cartesian k-points (:class:`System`).  A *builder* turns settings into
a :class:`Setup`: the system, its integration grid and what is known about the
physics around it (cell, spin, phonon pattern, input files).  The two builders
are :func:`wanphonon.systems.builtin.build` (the paper's models) and
:func:`wanphonon.frozen_phonon.builder.build` (Wannier90 frozen-phonon runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..geometry.hamiltonian import HamiltonianDerivatives


@runtime_checkable
class System(Protocol):
    """A Bloch Hamiltonian with its derivatives (eV, Angstrom; see HamiltonianDerivatives).

    ``ion_labels`` names the extra displacement channels (one per ion of a
    multi-ion mode) whose Born charges are evaluated in the same pass; empty
    for systems with one channel.  ``info`` is a JSON-able description.
    Optional: ``derivatives_fft(n_fft, shift_red, k_cart)``, the same on a uniform
    FFT sub-mesh (the engine uses it when present).
    """

    name: str
    info: dict

    @property
    def num_bands(self) -> int: ...

    @property
    def ion_labels(self) -> tuple[str, ...]: ...

    def derivatives(self, k_cart: np.ndarray) -> HamiltonianDerivatives: ...


@dataclass
class Setup:
    """A system ready to integrate, with its grid and physical context.

    dimension: 2 (results per area) or 3 (per volume).
    cell_measure: area (A^2) or volume (A^3) of the cell, or None (continuum models).
    lattice: (3, 3) rows a_i (A) for lattice systems, else None.
    spin_degeneracy: what the input says (``.win`` spinors: 1, spinless: 2), or None.
    spin_source: where that came from (for the log and result.json).
    occupied_bands: the model's own occupation (built-in models), or None.
    species: chemical labels of the atoms of the cell (from ``.win``), or empty.
    pattern: the phonon pattern (:class:`~wanphonon.frozen_phonon.mode.PhononPattern`), or None.
    inputs: sha256 of every input file by path.
    warnings: things a user must know that may change a quoted digit.
    gauge_variants: systems whose dH/du differ by plus and minus the part an ambiguous
        gauge alignment removed (empty when the alignment was exact); their spread is
        the gauge uncertainty of every chi term.
    """

    system: Any
    grid: Any
    dimension: int
    cell_measure: float | None
    lattice: np.ndarray | None = None
    spin_degeneracy: int | None = None
    spin_source: str = ""
    occupied_bands: int | None = None
    species: list[str] = field(default_factory=list)
    pattern: Any = None
    inputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gauge_variants: list = field(default_factory=list)
