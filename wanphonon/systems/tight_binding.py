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

Fourier sums use a dense matrix product for arbitrary k-lists and short-ranged
models and, for the uniform meshes of the engine, an FFT over R folded onto the
sub-mesh.  Internally the sums are convention II, ``sum_R X(R) e^{i k.R}``, of
matrices that carry the convention-I distances ``R + tau_b - tau_a``; one
diagonal phase ``e^{i k.(tau_b - tau_a)}`` turns them into convention I.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.fft
import scipy.sparse

from ..geometry import backend
from ..geometry.hamiltonian import HamiltonianDerivatives

# Slots of the output stack: H, d_k H (x, y, z), d_u H (x, y), d_k d_u H (xx, xy, yx, yy), where
# the d_k d_u H slot (i, a) is 6 + 2 i + a; then d_u H (x, y) of every ion channel (10 + 2 m + a).
# Slot 3 (d_kz H) is skipped when it vanishes.
_N_SLOTS = 10
_SLOT_KZ = 3

#: Up to this many R vectors the Fourier sums on an FFT batch are one dense matrix product
#: (cheaper than the FFT of the folded grid for short-ranged models); above it, the FFT.
DIRECT_SUM_MAX_R = 64


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
    ion_labels: tuple[str, ...] = ()
    ion_dH_R: np.ndarray | None = None      # (n_ion, 2, nR, N, N) eV/A: each ion's own dH/du
    ion_dcentres: np.ndarray | None = None  # (n_ion, 2, N, 3)

    @property
    def num_bands(self) -> int:
        return self.H_R.shape[-1]

    @property
    def _n_all(self) -> int:
        return _N_SLOTS + 2 * len(self.ion_labels)

    @cached_property
    def _r_cart(self) -> np.ndarray:
        return self.R @ self.lattice

    @cached_property
    def _planar(self) -> bool:
        """``d_kz H = 0``: every R in the plane and every centre at the same height."""
        return not np.any(self.R[:, 2]) and float(np.ptp(self.centres[:, 2])) == 0.0

    @cached_property
    def _slots(self) -> tuple[int, ...]:
        return tuple(s for s in range(self._n_all) if not (s == _SLOT_KZ and self._planar))

    @cached_property
    def _stack(self) -> np.ndarray:
        """``(n_slots, nR, N*N)``: the R-space matrices whose Fourier sums are needed.

        The k-derivatives carry the convention-I distances ``R + tau_b - tau_a``
        already, so that a convention-II sum times ``e^{i k.(tau_b - tau_a)}`` gives
        the convention-I matrices (module docstring).
        """
        tau = self.centres
        dist = self._r_cart[:, None, None, :] + (tau[None, :, :] - tau[:, None, :])[None]
        ir = 1j * dist                                            # (nR, N, N, 3)
        h, dh = self.H_R, self.dH_R
        every = {0: h, 1: ir[..., 0] * h, 2: ir[..., 1] * h, 3: ir[..., 2] * h, 4: dh[0], 5: dh[1],
                 6: ir[..., 0] * dh[0], 7: ir[..., 0] * dh[1], 8: ir[..., 1] * dh[0],
                 9: ir[..., 1] * dh[1]}
        for m in range(len(self.ion_labels)):
            every[_N_SLOTS + 2 * m], every[_N_SLOTS + 2 * m + 1] = self.ion_dH_R[m]
        n = self.num_bands
        return np.stack([np.asarray(every[s], dtype=complex).reshape(len(self.R), n * n)
                         for s in self._slots])

    def derivatives(self, k_cart) -> HamiltonianDerivatives:
        """H and derivatives at arbitrary Cartesian k-points ``(nk, 3)``.

        ``k_cart`` may be a torch tensor (float64): the sums then run on its device
        and the derivatives are tensors there (:mod:`wanphonon.geometry.backend`).
        """
        if not backend.is_torch(k_cart):
            k_cart = np.asarray(k_cart, dtype=float)
        stack, r_cart = self._on(k_cart, "_stack"), self._on(k_cart, "_r_cart")
        out = self._new_output(len(k_cart), k_cart)
        phase = backend.exp(1j * (k_cart @ r_cart.T))             # (nk, nR)
        for m, s in enumerate(self._slots):
            if backend.is_torch(out):
                out[s] = phase @ stack[m]
            else:
                np.matmul(phase, stack[m], out=out[s])
        return self._convention_one(k_cart, out)

    def _on(self, like, name: str):
        """The array attribute ``name`` on the backend and device of ``like`` (cached per device)."""
        if not backend.is_torch(like):
            return getattr(self, name)
        cache = self.__dict__.setdefault("_device_cache", {})
        key = (str(like.device), name)
        if key not in cache:
            cache[key] = backend.like(like, getattr(self, name))
        return cache[key]

    def derivatives_fft(self, n_fft: tuple[int, int, int], shift_red: np.ndarray,
                        k_cart: np.ndarray) -> HamiltonianDerivatives:
        """The same on the mesh ``k_red = j / n_fft + shift_red`` (j in C order).

        ``sum_R X(R) e^{2 pi i k.R} = sum_{r mod n} e^{2 pi i j.r/n} [sum_{R = r mod n}
        X(R) e^{2 pi i shift.R}]``: fold R onto the sub-mesh, then one inverse FFT.
        Short-ranged models (at most :data:`DIRECT_SUM_MAX_R` R vectors) take the
        direct sum instead, which is faster for them and equal to rounding.
        """
        if len(self.R) <= DIRECT_SUM_MAX_R:
            return self.derivatives(k_cart)
        n_fft = tuple(int(n) for n in n_fft)
        n_tot = int(np.prod(n_fft))
        folded = self._folding(n_fft).multiply(
            np.exp(2j * np.pi * (self.R @ shift_red))[None, :]).tocsr()
        axes = tuple(a for a in range(3) if n_fft[a] > 1)
        out = self._new_output(n_tot, k_cart)
        for m, s in enumerate(self._slots):
            grid = (folded @ self._stack[m]).reshape(*n_fft, -1)
            if axes:  # the unnormalised inverse transform: sum_r e^{+2 pi i j.r/n}
                grid = scipy.fft.ifftn(grid, axes=axes, norm="forward", overwrite_x=True)
            out[s] = grid.reshape(n_tot, -1)
        return self._convention_one(k_cart, out)

    def _new_output(self, nk: int, like) -> np.ndarray:
        """``(n_slots, nk, N*N)`` complex on the backend of ``like``; the d_kz H slot is zero for
        planar models."""
        n = self.num_bands
        out = backend.empty((self._n_all, nk, n * n), like=like)
        if self._planar:
            out[_SLOT_KZ] = 0.0
        return out

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

    def _convention_one(self, k_cart: np.ndarray, out: np.ndarray) -> HamiltonianDerivatives:
        """Convention-II sums of the stack -> convention-I H and derivatives (module docstring).

        Multiplies every slot by ``e^{i k.(tau_b - tau_a)}`` in place and hands out
        views of ``out``: no copies.
        """
        nk, n = len(k_cart), self.num_bands
        out = out.reshape(self._n_all, nk, n, n)
        if np.any(self.centres):
            ph = backend.exp(1j * (k_cart @ self._on(k_cart, "centres").T))   # (nk, N): e^{i k.tau_a}
            gauge = ph.conj()[:, :, None] * ph[:, None, :]         # e^{i k.(tau_b - tau_a)}
            for s in self._slots:
                out[s] *= gauge
        dpos = backend.like(k_cart, np.swapaxes(self.dcentres, 1, 2)) if np.any(self.dcentres) else None
        n_ion = len(self.ion_labels)
        du_ions = dpos_ions = None
        if n_ion:
            du_ions = out[_N_SLOTS:].reshape(n_ion, 2, nk, n, n)
            if self.ion_dcentres is not None and np.any(self.ion_dcentres):
                dpos_ions = backend.like(k_cart, np.swapaxes(self.ion_dcentres, 2, 3))
        return HamiltonianDerivatives(out[0], out[1:4], out[4:6], out[6:10].reshape(2, 2, nk, n, n), dpos,
                                      du_ions, dpos_ions)
