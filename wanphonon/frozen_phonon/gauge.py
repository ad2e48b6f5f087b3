"""Aligning the Wannier gauge of a displaced run to the equilibrium run.

Independent Wannierisations of the equilibrium and the displaced crystal may
return the same Wannier functions (WFs)

1. in another order,
2. translated by lattice vectors (a WF centred in a neighbouring cell),
3. with other phases, or rotated among WFs that sit on the same site with
   nearly the same on-site energy.

A finite difference of H(R) is only meaningful once both runs use one gauge.
:func:`align` undoes the three kinds of change, in that order:

* order and lattice translations: each displaced WF is matched to the
  equilibrium WF whose centre it is closest to modulo lattice vectors (and whose
  on-site energy is closest), by an optimal assignment; a translation by ``T``
  relabels ``H_ab(R) -> H_ab(R - T_b + T_a)`` and moves the centre by ``-T``;
* phases and rotations: a constant unitary ``U``, block diagonal over groups of
  WFs that share a site, minimising ``sum_R |H_d(R) U - U H_eq(R)|^2`` (the
  smallest eigenvector of a small Hermitian Gram matrix, then the nearest
  unitary of each block).  It is applied only when the change between the runs
  is too large to be a physical response to the displacement (above
  ``MAX_RESIDUAL_PER_A``), i.e. when the displaced run was gauged differently.
  A consistently gauged run is left exactly as it is: a rotation of orbitals on
  one site can mimic part of a physical response (the Dirac models' phonon
  coupling is one), and must not be "aligned" away.

The residual ``|H_d(R) - H_eq(R)|_F / |H_eq(R)|_F`` over all R, divided by the
displacement ``|u|`` (1/A), is reported before and after; physical responses are
of order 1/A.  If alignment leaves a residual above ``MAX_RESIDUAL_PER_A`` the
runs are refused (:class:`~wanphonon.errors.ModelMismatchError`).

All matrices here are in eV, R in lattice-vector units, centres in Angstrom.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import ModelMismatchError
from ..io.rvectors import r_keys

#: Relative change of H(R) per Angstrom of displacement above which a run is taken
#: to be gauged differently (and aligned), and above which an aligned run is refused;
#: physical responses are of order 1/A (hBN: 0.65/A, the Cd3As2 model: 4.1/A).
#: ``[wannier] max_change_per_A`` overrides it.
MAX_RESIDUAL_PER_A = 10.0
#: ... above which a consistently gauged run gets a note in the report.
WARN_RESIDUAL_PER_A = 5.0
#: WFs whose equilibrium centres are closer than this (A) and whose on-site energies
#: differ by less than SITE_ENERGY_EV may be rotated into each other.
SITE_RADIUS_A = 0.05
SITE_ENERGY_EV = 0.5
#: Weight (A^2 per eV^2) of on-site energy differences in the matching of WFs.
ENERGY_WEIGHT = 0.01


@dataclass(frozen=True)
class RealSpaceModel:
    """A Wannier model in real space: ``H[r] = <0 a| H |R_r b>`` and the WF centres."""

    R: np.ndarray            # (nR, 3) int
    H: np.ndarray            # (nR, N, N) complex, eV
    centres: np.ndarray | None   # (N, 3) A, Cartesian

    def onsite(self) -> np.ndarray:
        r0 = np.flatnonzero(~self.R.any(axis=1))
        return self.H[r0[0]].diagonal().real if r0.size else np.zeros(self.H.shape[-1])


@dataclass
class AlignmentReport:
    """What :func:`align` did to one displaced run."""

    seedname: str
    permutation: list[int]
    translations: list[list[int]]
    residual_before_per_A: float
    residual_after_per_A: float
    unitary_applied: bool
    max_unitary_change: float
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"permutation": self.permutation,
                "translated_wfs": {i: t for i, t in enumerate(self.translations) if any(t)},
                "residual_before_per_A": self.residual_before_per_A,
                "residual_after_per_A": self.residual_after_per_A,
                "unitary_applied": self.unitary_applied,
                "max_unitary_change": self.max_unitary_change, "notes": self.notes}


def on_common_r(models: list[RealSpaceModel]) -> tuple[np.ndarray, list[np.ndarray]]:
    """All models' H on the union of their R vectors (zero where a model has none)."""
    R = np.unique(np.concatenate([m.R for m in models]), axis=0)
    out = []
    for m in models:
        h = np.zeros((len(R),) + m.H.shape[1:], dtype=complex)
        idx = _row_index(R, m.R)
        h[idx] = m.H
        out.append(h)
    return R, out


def _row_index(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of each of ``rows`` in the sorted unique ``table`` (all must be present)."""
    key_t, key_r = r_keys(table, rows)
    return np.searchsorted(key_t, key_r)


def match_wannier_functions(eq: RealSpaceModel, disp: RealSpaceModel,
                            lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``perm, T``: displaced WF ``perm[a]`` is equilibrium WF ``a``, translated by ``T[a]``."""
    n = eq.H.shape[-1]
    cost = ENERGY_WEIGHT * (eq.onsite()[:, None] - disp.onsite()[None, :]) ** 2
    cost = cost + 1e-9 * (1 - np.eye(n))        # ties (same site, same energy) keep the order
    shifts = np.zeros((n, n, 3), dtype=int)
    if eq.centres is not None and disp.centres is not None:
        d = disp.centres[None, :, :] - eq.centres[:, None, :]          # (a_eq, b_disp, 3)
        frac = d @ np.linalg.inv(lattice)
        shifts = np.rint(frac).astype(int)
        rest = d - shifts @ lattice
        cost = cost + np.sum(rest ** 2, axis=-1)
    rows, cols = linear_sum_assignment(cost)
    perm = cols[np.argsort(rows)]
    return perm, shifts[np.arange(n), perm]


def permute_and_translate(model: RealSpaceModel, perm: np.ndarray, T: np.ndarray,
                          lattice: np.ndarray) -> RealSpaceModel:
    """Reorder WFs (new a = old ``perm[a]``) and translate WF a by ``-T[a]``."""
    H = model.H[:, perm][:, :, perm]
    centres = None if model.centres is None else model.centres[perm] - T @ lattice
    if not T.any():
        return RealSpaceModel(model.R, H, centres)
    n = H.shape[-1]
    # element (a, b) at R moves to R + T_b - T_a:  H'_ab(R') = H_ab(R' - T_b + T_a)
    new_R = model.R[:, None, None, :] + T[None, None, :, :] - T[None, :, None, :]
    R_union = np.unique(new_R.reshape(-1, 3), axis=0)
    out = np.zeros((len(R_union), n, n), dtype=complex)
    idx = _row_index(R_union, new_R.reshape(-1, 3)).reshape(new_R.shape[:3])
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    out[idx, a[None], b[None]] = H
    return RealSpaceModel(R_union, out, centres)


def site_groups(eq: RealSpaceModel) -> list[np.ndarray]:
    """Groups of WFs on one site with nearly equal on-site energy (may be rotated into each other)."""
    n = eq.H.shape[-1]
    if eq.centres is None:
        return [np.arange(n)]
    e = eq.onsite()
    label = -np.ones(n, dtype=int)
    groups = []
    for a in range(n):
        if label[a] >= 0:
            continue
        near = np.flatnonzero((np.linalg.norm(eq.centres - eq.centres[a], axis=1) < SITE_RADIUS_A)
                              & (np.abs(e - e[a]) < SITE_ENERGY_EV) & (label < 0))
        label[near] = len(groups)
        groups.append(near)
    return groups


def intertwiner(h_eq: np.ndarray, h_d: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Block-diagonal ``U`` minimising ``sum_R |H_d U - U H_eq|^2`` with ``|U|_F`` fixed.

    Returns the minimiser (not yet unitary) and the ascending eigenvalues of the
    Gram matrix (their spread tells whether the answer is unique).
    """
    pairs = [(a, b) for g in groups for a in g for b in g]
    a_idx = np.array([p[0] for p in pairs])
    b_idx = np.array([p[1] for p in pairs])
    # residual of U = e_ab: H_d[:, a] e_b^T - e_a H_eq[b, :]; Gram <L_ab, L_cd> summed over R.
    s_d = np.einsum("ria,ric->ac", np.conj(h_d), h_d)
    s_e = np.einsum("rbj,rdj->bd", np.conj(h_eq), h_eq)
    a1, c1 = a_idx[:, None], a_idx[None, :]
    b1, d1 = b_idx[:, None], b_idx[None, :]
    cross1 = np.einsum("rca,rdb->abcd", np.conj(h_d), h_eq, optimize=True)
    cross2 = np.einsum("rbd,rac->abcd", np.conj(h_eq), h_d, optimize=True)
    gram = ((b1 == d1) * s_d[a1, c1] + (a1 == c1) * s_e[b1, d1]
            - cross1[a1, b1, c1, d1] - cross2[a1, b1, c1, d1])
    gram = 0.5 * (gram + np.conj(gram.T))
    w, v = np.linalg.eigh(gram)
    n = h_eq.shape[-1]
    u = np.zeros((n, n), dtype=complex)
    u[a_idx, b_idx] = v[:, 0]
    return u, w


def nearest_unitary_blocks(u: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Polar factor of every diagonal block; a shared global phase is removed."""
    out = np.zeros_like(u)
    for g in groups:
        x, _, yh = np.linalg.svd(u[np.ix_(g, g)])
        out[np.ix_(g, g)] = x @ yh
    # global phase: make the trace real positive (a global phase changes nothing physical)
    t = np.trace(out)
    return out * (np.conj(t) / abs(t) if abs(t) > 0 else 1.0)


def _relative_change(h_eq: np.ndarray, h_d: np.ndarray) -> float:
    return float(np.linalg.norm(h_d - h_eq) / np.linalg.norm(h_eq))


def align(eq: RealSpaceModel, disp: RealSpaceModel, lattice: np.ndarray, u: np.ndarray,
          seedname: str, max_change: float = MAX_RESIDUAL_PER_A) -> tuple[RealSpaceModel, AlignmentReport]:
    """The displaced model in the gauge of ``eq`` and a report (see module docstring)."""
    size = float(np.linalg.norm(u))
    perm, T = match_wannier_functions(eq, disp, lattice)
    moved = permute_and_translate(disp, perm, T, lattice)
    R, (h_eq, h_d) = on_common_r([eq, moved])
    before = _relative_change(h_eq, h_d) / size
    after, applied, change, notes = before, False, 0.0, []
    if before > max_change:
        groups = site_groups(eq)
        u_raw, gram_w = intertwiner(h_eq, h_d, groups)
        if len(gram_w) > 1 and gram_w[1] < 1e-8 * gram_w[-1]:
            raise ModelMismatchError(
                f"displaced run '{seedname}' is gauged differently from the equilibrium run, and "
                "the equilibrium model has an internal symmetry (decoupled blocks such as valleys or "
                "spins) that leaves the relative gauge undetermined by H(R)",
                path=seedname,
                fix="Wannierise the displaced runs consistently with the equilibrium run (same "
                    "projections, windows and starting guess), so that no alignment is needed")
        unitary = nearest_unitary_blocks(u_raw, groups)
        h_d = np.conj(unitary.T)[None] @ h_d @ unitary
        after, applied = _relative_change(h_eq, h_d) / size, True
        change = float(np.max(np.abs(unitary - np.eye(len(unitary)))))
        notes.append("constant unitary (phases/rotations within sites) applied")
    elif before > min(WARN_RESIDUAL_PER_A, max_change):
        notes.append(f"H(R) changes by {before:.1f} per A of displacement, more than usual: check "
                     "that this run was Wannierised like the equilibrium run")
    if not np.array_equal(perm, np.arange(len(perm))):
        notes.append("Wannier functions reordered")
    if T.any():
        notes.append("Wannier functions translated by lattice vectors")
    report = AlignmentReport(seedname, perm.tolist(), T.tolist(), before, after, applied, change, notes)
    if after > max_change:
        raise ModelMismatchError(
            f"displaced run '{seedname}' cannot be aligned to the equilibrium Wannier gauge: after "
            f"reordering, translating and rotating the Wannier functions, H(R) still differs by "
            f"{100 * after * size:.1f}% from equilibrium for a displacement of {size:.4g} A "
            f"({after:.1f} per A; physical responses are of order 1 per A)",
            path=seedname,
            fix="rerun Wannier90 for this structure with the same projections, windows, num_bands, "
                "k-mesh and iteration settings as the equilibrium run (and symmetry off in the DFT "
                "run), or use a smaller displacement; if the response really is this strong, raise "
                f"[wannier] max_change_per_A (now {max_change:g})")
    return RealSpaceModel(R, h_d, moved.centres), report
