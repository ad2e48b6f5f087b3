"""Tight-binding systems in real space: H(R), dH/du(R) and orbital positions.

This is the common form of the built-in lattice models and of Wannier90 input
after the displacement step.  Bloch convention I (theory.md sec. 10), with the
orbital (Wannier-centre) positions ``tau_a`` of the equilibrium structure:

    H_ab(k) = sum_R H_ab(R) exp[i k.(R + tau_b - tau_a)],
    d_k H   = FT[i (R + tau_b - tau_a) H(R)],
    d_u H   = FT[d_u H(R)],          d_k d_u H = FT[i (R + tau_b - tau_a) d_u H(R)],

where FT is the convention-I sum.  The u-derivatives are those of the
tight-binding Hamiltonian in the orbital basis that moves with the ions; the
motion of the centres themselves, ``dcentres = d tau / d u``, is handed to the
geometry code separately (``HamiltonianDerivatives.dpos``), where it enters the
Berry connection in k through the position operator (docs/theory.md, "Moving
Wannier centres").  Adding ``i k.(dtau_b - dtau_a) H_ab`` to ``d_u H`` instead
would make the integrands non-periodic in k and lose the centre motion from
the Born charge (tests/test_moving_centres.py).

``H(R)[r, a, b] = <0, a| H |R_r, b>`` in eV, ``R`` in lattice-vector units,
already divided by Wannier90's degeneracy weights and with the minimal-replica
(``_wsvec.dat``) shifts expanded into the R list.  ``dH(R)`` in eV/A, centres in
A, ``dcentres[a, n, i] = d tau_{n,i} / d u_a`` (dimensionless).

Fourier sums use a dense matrix product for arbitrary k-lists and, for the
uniform meshes of the engine, an FFT over R folded onto the sub-mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse

from ..geometry.hamiltonian import HamiltonianDerivatives

# Order of the R-space stack that is Fourier transformed in one go.
_N_STACK = 10  # H, iR_x H, iR_y H, iR_z H, dH_x, dH_y, iR_x dH_x, iR_x dH_y, iR_y dH_x, iR_y dH_y


@dataclass(frozen=True)
class TightBinding:
    """A tight-binding model with its displacement derivative (see module docstring)."""

    lattice: np.ndarray            # (3, 3) rows a_1, a_2, a_3 (A)
    R: np.ndarray                  # (nR, 3) integers
    H_R: np.ndarray                # (nR, N, N) eV
    dH_R: np.ndarray               # (2, nR, N, N) eV/A
    centres: np.ndarray            # (N, 3) A, Cartesian
    dcentres: np.ndarray           # (2, N, 3)
    name: str = "tight_binding"
    n_occ: int | None = None
    default_spin_degeneracy: int = 1
    info: dict = field(default_factory=dict)

    @property
    def num_bands(self) -> int:
        return self.H_R.shape[-1]

    @cached_property
    def _r_cart(self) -> np.ndarray:
        return self.R @ self.lattice

    @cached_property
    def _stack(self) -> np.ndarray:
        """``(nR, 10, N, N)``: every R-space matrix whose Fourier sum is needed."""
        ir = 1j * self._r_cart[:, :, None, None]
        h, dh = self.H_R, self.dH_R
        return np.stack([h, ir[:, 0] * h, ir[:, 1] * h, ir[:, 2] * h, dh[0], dh[1],
                         ir[:, 0] * dh[0], ir[:, 0] * dh[1], ir[:, 1] * dh[0], ir[:, 1] * dh[1]],
                        axis=1)

    def derivatives(self, k_cart: np.ndarray) -> HamiltonianDerivatives:
        """H and derivatives at arbitrary Cartesian k-points ``(nk, 3)``."""
        k_cart = np.asarray(k_cart, dtype=float)
        phase = np.exp(1j * (k_cart @ self._r_cart.T))
        n = self.num_bands
        ft = (phase @ self._stack.reshape(len(self.R), -1)).reshape(len(k_cart), _N_STACK, n, n)
        return self._convention_one(k_cart, ft)

    def derivatives_fft(self, n_fft: tuple[int, int, int], shift_red: np.ndarray,
                        k_cart: np.ndarray) -> HamiltonianDerivatives:
        """The same on the mesh ``k_red = j / n_fft + shift_red`` (j in C order).

        ``sum_R X(R) e^{2 pi i k.R} = sum_{r mod n} e^{2 pi i j.r/n} [sum_{R = r mod n}
        X(R) e^{2 pi i shift.R}]``: fold R onto the sub-mesh, then one inverse FFT.
        """
        n_tot = int(np.prod(n_fft))
        folded = self._folding(tuple(n_fft)).multiply(
            np.exp(2j * np.pi * (self.R @ shift_red))[None, :]).tocsr()
        n = self.num_bands
        grid = (folded @ self._stack.reshape(len(self.R), -1)).reshape(*n_fft, -1)
        ft = np.fft.ifftn(grid, axes=(0, 1, 2)) * n_tot
        return self._convention_one(k_cart, ft.reshape(n_tot, _N_STACK, n, n))

    def _folding(self, n_fft: tuple[int, int, int]) -> scipy.sparse.csr_matrix:
        """Sparse ``(prod(n_fft), nR)`` matrix mapping each R to its residue mod n_fft."""
        cache = self.__dict__.setdefault("_fold_cache", {})
        if n_fft not in cache:
            res = np.mod(self.R, np.array(n_fft))
            rows = np.ravel_multi_index(res.T, n_fft)
            cache[n_fft] = scipy.sparse.csr_matrix(
                (np.ones(len(self.R), dtype=complex), (rows, np.arange(len(self.R)))),
                shape=(int(np.prod(n_fft)), len(self.R)))
        return cache[n_fft]

    def _convention_one(self, k_cart: np.ndarray, ft: np.ndarray) -> HamiltonianDerivatives:
        """Convention-II Fourier sums -> convention-I H and derivatives (module docstring)."""
        tau = self.centres
        ph = np.exp(1j * (k_cart @ tau.T))                       # (nk, N): e^{i k.tau_a}
        gauge = np.conj(ph)[:, :, None] * ph[:, None, :]         # e^{i k.(tau_b - tau_a)}
        ft = ft * gauge[:, None]
        h, du = ft[:, 0], ft[:, 4:6]
        dtau = tau[None, :, :] - tau[:, None, :]                 # (N, N, 3): tau_b - tau_a
        dk = np.stack([ft[:, 1 + i] + 1j * dtau[:, :, i] * h for i in range(3)])
        dkdu_r = ft[:, 6:10].reshape(len(k_cart), 2, 2, *h.shape[1:])
        dkdu = np.stack([np.stack([dkdu_r[:, i, a] + 1j * dtau[:, :, i] * du[:, a] for a in range(2)])
                         for i in range(2)])
        dpos = np.swapaxes(self.dcentres, 1, 2) if np.any(self.dcentres) else None
        return HamiltonianDerivatives(h, dk, np.moveaxis(du, 1, 0), dkdu, dpos)
