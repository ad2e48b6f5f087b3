"""wanphonon's integrands as WannierBerri calculators.

This is the only module that imports :mod:`wannierberri`, and it does so
inside functions, so wanphonon works without it (install the extra:
``pip install -e '.[wannierberri]'``).  Tested with WannierBerri 26.10.
A runnable example on the hBN frozen-phonon runs, Born charge in e included:
``examples/wannierberri/hbn_born_charge.py`` (``tests/test_wannierberri.py`` runs it).

    import tempfile
    import wannierberri as wb
    from wanphonon.api import setup
    from wanphonon.interfaces.wannierberri import (BornCharge, SecondChernForm, born_charge,
                                                    chi_terms, system_from_tight_binding)
    calc = setup("examples/hbn_dft/wanphonon.toml")         # calc.system: a TightBinding
    system = system_from_tight_binding(calc.system)
    grid = wb.Grid(system, NK=(24, 24, 1), NKFFT=(24, 24, 1), use_symmetry=False)
    with tempfile.TemporaryDirectory() as tmp:              # WannierBerri writes result files
        res = wb.run(system, grid, calculators={"chern2": SecondChernForm(n_occ=4),
                                                "born_charge": BornCharge(n_occ=4)},
                     parallel=False, use_irred_kpt=False, symmetrize=False,
                     fout_name=f"{tmp}/hbn")
    chi_per_spin = chi_terms(res.results["chern2"])         # {"born_a": ..., ...}: 1/A^2, per spin
    z = born_charge(res.results["born_charge"])             # (3, 2): 1/A^2, per spin
    z_electronic = 2 * system.wanphonon_cell_measure * z    # e: g_s = 2, times the cell area

**Units: what the calculators return.**  Both return ``int d^dk/(2 pi)^d`` of
per-spin integrands (no spin degeneracy unless ``spin_degeneracy`` is given):

* :class:`SecondChernForm`: the terms ``born_a``, ``born_b``, ``energy``,
  ``total`` (``T(k)``) in 1/A^2 (2D) or 1/A^3 (3D), and ``berry_curvature``
  (``Tr Omega_kxky``, dimensionless in 2D).  Times the spin degeneracy g_s they
  are the ``chi`` entries of ``result.json`` (``chi["born"]`` there is
  ``born_a + born_b``, a term of the second Chern form, not a Born charge).
* :class:`BornCharge`: ``int [dk] Tr Omega_{k_i u_j}`` in 1/A^2 (2D) or 1/A^3
  (3D), *not* yet a Born charge.  The electronic Born charge in units of e is
  ``Z_ij = g_s * A_c * (this)`` (``V_c`` instead of the cell area ``A_c`` in 3D;
  ``system.wanphonon_cell_measure`` holds it), and ``Z* = Z + valence``
  on the in-plane diagonal (docs/theory.md sec. 6).

**The system.**  :func:`system_from_tight_binding` builds a
``wannierberri.system.System_R`` with ``Ham`` = ``H(R)`` and two extra R-space
matrices, ``dHdu_x`` and ``dHdu_y`` = ``dH(R)/du_a`` (``set_R_mat``), the
Wannier centres ``tau`` and the real lattice.  Its point group is trivial: the
integrands depend on the displacement of one particular ion, which is not a
tensor under the crystal's point group, so run with ``use_irred_kpt=False``
and ``symmetrize=False`` (with a trivial group both are no-ops anyway).

**Fourier conventions.**  WannierBerri 26.x supports only "phase convention I"
(``use_wcc_phase``): ``Data_K`` transforms ``X(k) = sum_R X(R) e^{i k.R}``
(the plain, convention-II sum; ``fourier/fft.py``) but takes k-derivatives as
``sum_R i (R + tau_b - tau_a) X(R) e^{i k.R}`` (``Rvectors.derivative`` with the
Wannier centres as ``shifts_left_red``).  Writing ``U(k) = diag(e^{i k.tau_a})``,
these matrices are exactly ``U X_I U^dag`` for wanphonon's convention-I
``H``, ``d_k H``, ``d_u H`` and ``d_k d_u H`` (docs/theory.md sec. 10): one
k-dependent unitary change of orbital basis applied to all of them at once.
Every wanphonon integrand is invariant under such a change (and the centre
motion ``-P d tau/du P`` and the orbital weights are diagonal, so they commute
with ``U``), hence :func:`wanphonon.geometry.integrands.evaluate` on
WannierBerri's Wannier-gauge matrices gives wanphonon's numbers.
``tests/test_wannierberri.py`` checks this against the native engine.

**The calculators** evaluate, per k-point of each FFT grid, ``H(k)``
(``Data_K.HH_K``), ``d_k H`` (``get_k_mat("Ham", der=1)``), ``d_u H`` and
``d_k d_u H`` (``get_k_mat("dHdu_a", der=0/1)``), call ``evaluate`` once (shared
by all wanphonon calculators on the same ``Data_K``) and return the grid
average divided by the cell measure, as WannierBerri's static calculators
do: the sum over the grid is ``int d^dk/(2 pi)^d`` of the integrand -- the
numbers of :class:`wanphonon.engine.integrate.Integrals` (per spin).
"""

from __future__ import annotations

import numpy as np

from ..geometry.bands import DEFAULT_GAP_TOLERANCE, check_gap, diagonalize
from ..geometry.hamiltonian import HamiltonianDerivatives
from ..geometry.integrands import SCALAR_INTEGRANDS, evaluate

#: Names of the extra R-space matrices that carry ``dH(R)/du_x`` and ``dH(R)/du_y``.
DHDU_KEYS = ("dHdu_x", "dHdu_y")

#: WannierBerri versions this module was written and tested against.
SUPPORTED = ">=26.10,<27"


def _require_wannierberri():
    try:
        import wannierberri
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("wanphonon.interfaces.wannierberri needs WannierBerri: "
                          "pip install 'wanphonon[wannierberri]'") from exc
    return wannierberri


def system_from_tight_binding(tb, *, dimension: int | None = None, name: str | None = None):
    """A ``wannierberri.system.System_R`` holding ``tb``'s H(R), dH(R)/du and centres.

    ``tb`` is a :class:`wanphonon.systems.tight_binding.TightBinding`.
    ``dimension`` 2 (a slab: cell measure = area of the first two lattice
    vectors, the third direction not periodic) or 3; by default 2 when every R
    has a zero third component.  The moving centres ``tb.dcentres`` and the cell
    measure are kept on the system (``wanphonon_dcentres``,
    ``wanphonon_cell_measure``) for the calculators.
    """
    _require_wannierberri()
    from wannierberri.fourier.rvectors import Rvectors
    from wannierberri.system.system_R import System_R

    R = np.asarray(tb.R, dtype=int)
    if dimension is None:
        dimension = 2 if not np.any(R[:, 2]) else 3
    if dimension not in (2, 3):
        raise ValueError(f"dimension must be 2 or 3, got {dimension}")
    periodic = (True, True, dimension == 3)
    system = System_R(periodic=periodic, force_internal_terms_only=True, silent=True,
                      name=name or getattr(tb, "name", "wanphonon"))
    system.set_real_lattice(np.asarray(tb.lattice, dtype=float))
    system.num_wann = tb.num_bands
    system.spinor = False
    system.set_wannier_centers(wannier_centers_cart=np.asarray(tb.centres, dtype=float))
    # convention I: the Wannier centres are the shifts of the R vectors (R + tau_b - tau_a)
    system.rvec = Rvectors(lattice=system.real_lattice, iRvec=R,
                           shifts_left_red=system.wannier_centers_red)
    system.set_R_mat("Ham", np.array(tb.H_R, dtype=complex))
    for a, key in enumerate(DHDU_KEYS):
        system.set_R_mat(key, np.array(tb.dH_R[a], dtype=complex))
    system.do_at_end_of_init()
    lat = system.real_lattice
    system.wanphonon_cell_measure = (float(np.linalg.norm(np.cross(lat[0], lat[1]))) if dimension == 2
                                     else float(abs(np.linalg.det(lat))))
    system.wanphonon_dcentres = np.array(tb.dcentres, dtype=float)
    system.wanphonon_dimension = dimension
    return system


def derivatives_from_data_k(data_k) -> HamiltonianDerivatives:
    """``H``, ``d_k H``, ``d_u H``, ``d_k d_u H`` (and centre motion) on a ``Data_K``'s k-points.

    Wannier-gauge matrices of WannierBerri (see the module docstring for why
    they give wanphonon's integrands).  ``Data_K`` must come from a system of
    :func:`system_from_tight_binding` (or any ``System_R`` with the
    :data:`DHDU_KEYS` matrices).
    """
    h = data_k.HH_K                                                    # (nk, N, N)
    dk = np.moveaxis(data_k.get_k_mat("Ham", der=1, hermitian=True), -1, 0)      # (3, nk, N, N)
    du, dkdu = [], []
    for key in DHDU_KEYS:
        du.append(data_k.get_k_mat(key, der=0, hermitian=True))
        dkdu.append(np.moveaxis(data_k.get_k_mat(key, der=1, hermitian=True), -1, 0)[:2])
    dkdu = np.stack(dkdu, axis=1)                                      # (2 i, 2 a, nk, N, N)
    dcentres = getattr(data_k.system, "wanphonon_dcentres", None)
    dpos = np.swapaxes(dcentres, 1, 2) if dcentres is not None and np.any(dcentres) else None
    return HamiltonianDerivatives(np.ascontiguousarray(h), np.ascontiguousarray(dk), np.stack(du),
                                  np.ascontiguousarray(dkdu), dpos)


class _WanphononCalculator:
    """Common part: occupation, the shared per-``Data_K`` evaluation, the measure.

    Duck-types ``wannierberri.calculators.Calculator`` (``comment``,
    ``allow_grid``, ``allow_path``, ``__call__(data_K)``) so that this module
    does not import WannierBerri at import time.
    """

    allow_grid = True
    allow_path = False

    def __init__(self, *, n_occ: int | None = None, fermi_energy: float | None = None,
                 gap_tolerance: float = DEFAULT_GAP_TOLERANCE, spin_degeneracy: int = 1,
                 cell_measure: float | None = None, save_mode: str = "bin+txt"):
        if (n_occ is None) == (fermi_energy is None):
            raise ValueError("give exactly one of n_occ and fermi_energy")
        self.n_occ, self.fermi_energy = n_occ, fermi_energy
        self.gap_tolerance = gap_tolerance
        self.spin_degeneracy = spin_degeneracy
        self.cell_measure = cell_measure
        self.save_mode = save_mode
        self.comment = (self.__doc__ or "").strip().splitlines()[0]

    def __repr__(self):
        occ = f"n_occ={self.n_occ}" if self.n_occ is not None else f"fermi_energy={self.fermi_energy}"
        return f"{type(self).__name__}({occ})"

    def per_k(self, data_k):
        """wanphonon's :class:`~wanphonon.geometry.integrands.KResolved` on ``data_k``,
        computed once per ``Data_K`` and occupation for all wanphonon calculators."""
        cache = data_k.__dict__.setdefault("_wanphonon_per_k", {})
        key = (self.n_occ, self.fermi_energy, self.gap_tolerance)
        if key not in cache:
            derivs = derivatives_from_data_k(data_k)
            eig = diagonalize(derivs.H, n_occ=self.n_occ, fermi_energy=self.fermi_energy)
            check_gap(eig, self.gap_tolerance)     # WannierBerri's grid: this is the engine here
            cache[key] = evaluate(derivs, eig)
        return cache[key]

    def _scale(self, data_k) -> float:
        measure = self.cell_measure or getattr(data_k.system, "wanphonon_cell_measure", None) \
            or data_k.cell_volume
        return self.spin_degeneracy / (data_k.nk * measure)


class SecondChernForm(_WanphononCalculator):
    """wanphonon chi terms: born_a, born_b, energy (second Chern form), total T(k), berry_curvature

    Returns an ``EnergyResult`` whose energy axis is the term index
    (``self.terms``, default all of
    :data:`~wanphonon.geometry.integrands.SCALAR_INTEGRANDS`); summed over
    the grid it is ``int [dk]`` of each integrand (1/A^2 in 2D, 1/A^3 in 3D;
    ``berry_curvature`` dimensionless in 2D).  :func:`chi_terms` turns it into
    a dict.
    """

    def __init__(self, terms=SCALAR_INTEGRANDS, **kwargs):
        super().__init__(**kwargs)
        unknown = set(terms) - set(SCALAR_INTEGRANDS)
        if unknown:
            raise ValueError(f"unknown terms {sorted(unknown)}; choose from {SCALAR_INTEGRANDS}")
        self.terms = tuple(terms)

    def __call__(self, data_k):
        from wannierberri.result import EnergyResult
        from wannierberri.symmetry.point_symmetry import transform_ident
        part = self.per_k(data_k)
        data = np.array([getattr(part, t).sum() for t in self.terms]) * self._scale(data_k)
        return EnergyResult(Energies=[np.arange(len(self.terms), dtype=float)], data=data, rank=0,
                            E_titles=["term"], transformTR=transform_ident, transformInv=transform_ident,
                            comment=self.comment + "; term index: " + ", ".join(
                                f"{i} {t}" for i, t in enumerate(self.terms)),
                            save_mode=self.save_mode)


class BornCharge(_WanphononCalculator):
    """wanphonon Born-charge integrand Tr Omega_{k_i u_j} (rows i = x, y, z; columns j = ux, uy, 0)

    Returns a rank-2 ``EnergyResult`` (no energy axis), ``data[i, j] =
    int [dk] Tr Omega_{k_i u_j}`` (1/A^2 in 2D, 1/A^3 in 3D; per spin unless
    ``spin_degeneracy`` is given) for ``j`` = x, y and a zero third column (the
    displacement has two components).  It is not yet a Born charge: times the
    spin degeneracy and the cell area (volume in 3D) it is the electronic Born
    charge in units of e, as ``born_charge`` in ``result.json``.
    :func:`born_charge` returns the ``(3, 2)`` block.
    """

    def __call__(self, data_k):
        from wannierberri.result import EnergyResult
        from wannierberri.symmetry.point_symmetry import transform_ident
        part = self.per_k(data_k)
        data = np.zeros((3, 3))
        data[:, :2] = part.born_charge.sum(axis=0) * self._scale(data_k)
        return EnergyResult(Energies=[], data=data, rank=2, E_titles=[], transformTR=transform_ident,
                            transformInv=transform_ident, comment=self.comment,
                            save_mode=self.save_mode)


def chi_terms(result, terms=SCALAR_INTEGRANDS) -> dict[str, float]:
    """``{term: value}`` from the (integrated) result of :class:`SecondChernForm`."""
    data = np.asarray(result.data, dtype=float).reshape(-1)
    if len(data) != len(terms):
        raise ValueError(f"{len(data)} values for {len(terms)} terms")
    return {t: float(x) for t, x in zip(terms, data)}


def born_charge(result) -> np.ndarray:
    """The ``(3, 2)`` integrals ``int [dk] Tr Omega_{k_i u_j}`` (1/A^2 in 2D, 1/A^3 in 3D) from
    the (integrated) result of :class:`BornCharge`; times g_s and the cell measure: e."""
    return np.array(result.data, dtype=float)[:, :2]


def integrate_tight_binding(tb, mesh, *, nkfft=None, n_occ=None, fermi_energy=None,
                            gap_tolerance: float = DEFAULT_GAP_TOLERANCE, fout_name=None):
    """Integrate ``tb`` on a Gamma-centred ``mesh`` with WannierBerri (serially).

    Returns ``(values, born_charge)`` in the layout of
    :class:`wanphonon.engine.integrate.Integrals`, per spin: ``values`` per term
    (1/A^2 in 2D, 1/A^3 in 3D), ``born_charge`` the ``(3, 2)`` integrals of
    ``Tr Omega_ku`` (same units; times g_s and the cell measure: e).  ``nkfft``: the FFT
    sub-mesh (default: the whole mesh in one FFT).  ``fout_name``: prefix of
    WannierBerri's result files (default: a temporary directory, removed).
    """
    import os
    import tempfile
    wb = _require_wannierberri()
    if n_occ is None and fermi_energy is None:
        n_occ = tb.n_occ
    system = system_from_tight_binding(tb)
    mesh = tuple(int(m) for m in mesh)
    nkfft = mesh if nkfft is None else tuple(int(m) for m in nkfft)
    grid = wb.Grid(system, NK=mesh, NKFFT=nkfft, use_symmetry=False)
    occupation = dict(n_occ=n_occ) if n_occ is not None else dict(fermi_energy=fermi_energy)
    kwargs = dict(gap_tolerance=gap_tolerance, save_mode="bin", **occupation)
    calculators = {"chern2": SecondChernForm(**kwargs), "born_charge": BornCharge(**kwargs)}
    with tempfile.TemporaryDirectory() as tmp:
        res = wb.run(system, grid, calculators=calculators, parallel=False, use_irred_kpt=False,
                     symmetrize=False, fout_name=fout_name or os.path.join(tmp, "wanphonon"),
                     print_progress_step_time=1e9)
    return chi_terms(res.results["chern2"]), born_charge(res.results["born_charge"])
