"""The data every geometric formula needs: H(k) and its first derivatives.

A *system* (a continuum model, a tight-binding model, a Wannier90 model) hands
the geometry code one :class:`HamiltonianDerivatives` per batch of k-points.
Units: energies in eV, k in 1/Angstrom, displacements u in Angstrom, so
``dk`` is in eV*Angstrom, ``du`` in eV/Angstrom and ``dkdu`` in eV.
All derivatives are taken at u = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HamiltonianDerivatives:
    """``H``, ``d_k H``, ``d_u H`` and ``d_k d_u H`` on a batch of k-points.

    H:    ``(nk, N, N)``            Bloch Hamiltonian at u = 0.
    dk:   ``(3, nk, N, N)``         ``d H / d k_i``, i = x, y, z (Cartesian).
    du:   ``(2, nk, N, N)``         ``d H / d u_a``, a = x, y: the two polarisation
                                    components of the phonon (displacement of the
                                    representative ion).
    dkdu: ``(2, 2, nk, N, N)``      ``d^2 H / d k_i d u_a`` for in-plane i = x, y.
    dpos: ``(2, 3, N)`` or None     ``d tau_{n,i} / d u_a``: motion of the orbital
                                    (Wannier-centre) positions with the phonon.
    du_ions: ``(n_ion, 2, nk, N, N)`` or None: ``d H / d u_{kappa,a}`` of each ion
                                    kappa of a multi-ion mode alone (for per-ion
                                    Born charges); ``dpos_ions`` ``(n_ion, 2, 3, N)``
                                    likewise for the centres.

    For tight-binding input (Bloch convention I, theory.md sec. 10) the
    u-derivatives are taken in the orbital basis that moves with the ions:
    ``du = FT_I[d H(R)/du]`` and ``dkdu = d_k du``, at the equilibrium
    positions; the centre motion enters separately through ``dpos`` (see
    docs/theory.md, "Moving Wannier centres").  ``d_k d_k H`` and
    ``d_u d_u H`` never enter any quantity at u = 0.
    """

    H: np.ndarray
    dk: np.ndarray
    du: np.ndarray
    dkdu: np.ndarray
    dpos: np.ndarray | None = None
    du_ions: np.ndarray | None = None
    dpos_ions: np.ndarray | None = None

    @property
    def nk(self) -> int:
        return self.H.shape[0]

    @property
    def num_bands(self) -> int:
        return self.H.shape[-1]

    def subset(self, mask: np.ndarray) -> "HamiltonianDerivatives":
        """The same data restricted to the k-points selected by a boolean mask."""
        return HamiltonianDerivatives(self.H[mask], self.dk[:, mask], self.du[:, mask],
                                      self.dkdu[:, :, mask], self.dpos,
                                      None if self.du_ions is None else self.du_ions[:, :, mask],
                                      self.dpos_ions)

    def slice(self, sl: slice) -> "HamiltonianDerivatives":
        """A consecutive range of k-points (views, no copies)."""
        return HamiltonianDerivatives(self.H[sl], self.dk[:, sl], self.du[:, sl], self.dkdu[:, :, sl],
                                      self.dpos, None if self.du_ions is None else self.du_ions[:, :, sl],
                                      self.dpos_ions)
