"""The paper's continuum Dirac models with a phonon coupling (PRL 127, 186403).

Both are 4x4 and of the form

    H(k, u) = eps(kz) + v kx G_x + v ky G_y + D(kz) G_z + zeta (uy G_uy + ux G_ux),

written here in the explicit-matrix reading of theory.md sec. 9 (basis and
signs as printed), with ``pi = kx + i ky`` and ``rho = uy + i ux``:

* gapped graphene, K-point chiral phonon (paper Eq. 7), one spin sector,
  basis ``{|K,B>, |K,A>, |K',A>, |K',B>}``, ``D`` and ``eps = 0`` constant;
* Cd3As2 (paper Eq. 8), basis ``{|P3/2,3/2>, |S1/2,1/2>, |S1/2,-1/2>, |P3/2,-3/2>}``,
  ``D = Delta0 - Delta1 kz^2``, ``eps = eps0 + eps1 kz^2``.

An optional in-plane band curvature ``D -> D - Delta2 (kx^2 + ky^2)`` (absent in
the paper, present in the k.p model of Wang et al., PRB 88, 125427, and in every
lattice regularisation) lets continuum and lattice models be compared directly.

Units: eV, Angstrom; ``v`` in eV*A, ``zeta`` in eV/A, ``Delta1``, ``eps1`` in eV*A^2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry.hamiltonian import HamiltonianDerivatives

_S0 = np.eye(2)
_SX = np.array([[0, 1], [1, 0]], dtype=complex)
_SY = np.array([[0, -1j], [1j, 0]])
_SZ = np.diag([1.0, -1.0]).astype(complex)

#: tau (valley / outer index) x s (inner index)
GAMMA_X = np.kron(_SZ, _SX)
GAMMA_Y = np.kron(_SZ, _SY)
GAMMA_Z = np.kron(_SZ, _SZ)

#: Parameters of the paper's Fig. 3 (Cd3As2), eV and Angstrom.
CD3AS2_PAPER = {"delta0": -0.0205, "delta1": 18.77, "eps0": -0.0116, "eps1": 10.59,
                "v": 0.889, "zeta": 1.0}


@dataclass(frozen=True)
class DiracContinuum:
    """A continuum 4-band Dirac model; see the module docstring.

    ``kz`` given: a single 2D slice at that kz (per-area results).
    ``kz`` None with ``delta1 != 0``: the 3D model, integrated over kz.
    """

    name: str
    v: float
    zeta: float
    delta0: float
    delta1: float = 0.0
    eps0: float = 0.0
    eps1: float = 0.0
    delta2: float = 0.0
    kz: float | None = None
    coupling_ux: np.ndarray = field(default=None, repr=False)
    coupling_uy: np.ndarray = field(default=None, repr=False)
    n_occ: int = 2
    default_spin_degeneracy: int = 1
    ion_labels: tuple[str, ...] = ()

    @property
    def num_bands(self) -> int:
        return 4

    @property
    def info(self) -> dict:
        """The model's parameters (eV, Angstrom)."""
        return {k: getattr(self, k) for k in ("v", "zeta", "delta0", "delta1", "eps0", "eps1", "delta2", "kz")}

    @property
    def dimension(self) -> int:
        """2 for a plane (graphene, one Cd3As2 slice), 3 for kz-integrated Cd3As2."""
        return 3 if (self.kz is None and self.delta1 != 0.0) else 2

    def mass(self, kz: np.ndarray | float) -> np.ndarray:
        """``D(kz) = Delta0 - Delta1 kz^2`` (eV) at k_par = 0."""
        return self.delta0 - self.delta1 * np.asarray(kz, dtype=float) ** 2

    def derivatives(self, k: np.ndarray) -> HamiltonianDerivatives:
        """H and its derivatives at Cartesian k-points ``(nk, 3)`` (1/A), u = 0."""
        k = np.asarray(k, dtype=float)
        kz = k[:, 2]
        kpar2 = k[:, 0] ** 2 + k[:, 1] ** 2
        d = (self.mass(kz) - self.delta2 * kpar2)[:, None, None]
        eps = (self.eps0 + self.eps1 * kz ** 2)[:, None, None]
        h = (eps * np.eye(4) + self.v * (k[:, 0, None, None] * GAMMA_X + k[:, 1, None, None] * GAMMA_Y)
             + d * GAMMA_Z)
        nk = k.shape[0]
        ones = np.ones((nk, 1, 1))
        dkz = (-2 * self.delta1 * kz)[:, None, None] * GAMMA_Z + (2 * self.eps1 * kz)[:, None, None] * np.eye(4)
        curv = -2 * self.delta2 * k[:, :2, None, None] * GAMMA_Z
        dk = np.stack([self.v * GAMMA_X + curv[:, 0], self.v * GAMMA_Y + curv[:, 1],
                       dkz.astype(complex)])
        du = np.stack([ones * self.zeta * self.coupling_ux, ones * self.zeta * self.coupling_uy])
        return HamiltonianDerivatives(h, dk, du, np.zeros((2, 2, nk, 4, 4), dtype=complex))

    def length_scale(self, kz: np.ndarray | float) -> np.ndarray:
        """In-plane momentum scale ``|D(kz)|/v`` (1/A) that sets the radial grid."""
        return np.abs(self.mass(kz)) / abs(self.v)


def graphene_dirac(delta: float, zeta: float, v: float, reading: str = "matrix",
                   delta2: float = 0.0) -> DiracContinuum:
    """Gapped graphene with a K-point chiral phonon (paper Eq. 7), one spin sector.

    ``reading="matrix"``: the printed matrix, ``q = (v kx, v ky, D, z uy, +z ux)``.
    ``reading="qGamma"``: the text's ``q_5 = -z ux`` (ux -> -ux, flips every sign).
    """
    if reading not in ("matrix", "qGamma"):
        raise ValueError(f"unknown reading {reading!r}: use 'matrix' or 'qGamma'")
    tau_x = np.kron(_SX, _S0)
    tau_y = np.kron(_SY, _S0)
    sign = 1.0 if reading == "matrix" else -1.0
    return DiracContinuum("graphene_dirac", v=v, zeta=zeta, delta0=delta, delta2=delta2,
                          coupling_ux=sign * tau_y, coupling_uy=tau_x,
                          default_spin_degeneracy=2)


def cd3as2_dirac(delta0: float = CD3AS2_PAPER["delta0"], delta1: float = CD3AS2_PAPER["delta1"],
                 eps0: float = CD3AS2_PAPER["eps0"], eps1: float = CD3AS2_PAPER["eps1"],
                 v: float = CD3AS2_PAPER["v"], zeta: float = CD3AS2_PAPER["zeta"],
                 kz: float | None = None, delta2: float = 0.0) -> DiracContinuum:
    """The Cd3As2 model of paper Eq. 8 (spin included: spin degeneracy 1)."""
    return DiracContinuum("cd3as2_dirac", v=v, zeta=zeta, delta0=delta0, delta1=delta1,
                          eps0=eps0, eps1=eps1, delta2=delta2, kz=kz,
                          coupling_ux=np.kron(_SY, _SZ), coupling_uy=np.kron(_SX, _SZ))
