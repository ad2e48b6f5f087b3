"""Aligning the Wannier gauge of a displaced run to the equilibrium run (docs/gauge.md).

Independent Wannierisations of the equilibrium and the displaced crystal may
return the same Wannier functions (WFs)

1. in another order (a permutation),
2. translated by lattice vectors (a WF centred in a neighbouring cell),
3. with other phases (one ``e^{i phi}`` per WF),
4. rotated among WFs that sit on one site (a continuous unitary mixing, e.g. of a
   p shell, or of the two spinors of a Kramers pair).

1-3 are a *discrete, diagonal* change of gauge: a monomial matrix (a permutation
times phases) combined with lattice translations.  It is recovered exactly from
H(R) alone and undone first (:func:`discrete_alignment`):

* every WF gets a fingerprint that no discrete gauge change alters: its on-site
  energy, its centre modulo lattice vectors, and its *hopping profile*
  ``p_a(q) = sum_{b,R} |H_ab(R)| exp(i q.d_ab(R))`` with the Cartesian bond vector
  ``d_ab(R) = R + tau_b - tau_a`` (A) at a few probe wave vectors ``q``; the
  profile tells p_x from p_y on one site by the direction of their strong bonds;
* an optimal assignment of displaced to equilibrium WFs on these fingerprints
  gives the permutation, the centres the translations;
* WFs whose fingerprints are too alike to tell apart (e.g. the two spinors of a
  Kramers pair) are settled by trying their swaps on the full residual;
* the phases maximise ``Re sum_ab conj(w_a) w_b C_ab``, ``C_ab = sum_R
  conj(H^eq_ab(R)) H^d_ab(R)`` over ``|w_a| = 1`` (phase synchronisation:
  leading eigenvector, then fixed-point iterations ``w <- phase(C w)``); phases
  all below ``max_change |u|`` are left alone (a consistently gauged run is never
  changed);
* spinor runs (``spinors = true``): Kramers pairs ``(2i, 2i+1)`` are the units,
  permuted, translated and rephased as wholes.

For a real H(R) (time-reversal symmetric, spinless) and, with one phase per pair,
for a time-reversal symmetric spinor model, the response has no component along
the phase directions: the discrete step is exact.  For another complex H(R) a
phase-like part of the response cannot be told from a rephasing; such phases are
treated as ambiguous, like a rotation.

Only if H(R) still differs from equilibrium by more than a physical response
does (``max_change`` = ``[wannier] max_change_per_A``, 1/A), a continuous rotation
within groups of same-site WFs is fitted (:func:`intertwiner`; for spinor runs
first within Kramers pairs, then within sites).  That step is *ambiguous*: a
rotation of the orbitals of one site is also what a genuine response can look
like (the Dirac models' phonon coupling is one), and the fit removes that part
of dH/du together with the scramble.  The builder therefore estimates the
removed component (:func:`removed_component`) and the engine evaluates every
chi term with and without it (:func:`gauge_uncertainty`); the difference is
reported and a run is refused above ``[wannier] max_gauge_uncertainty``.

The residual ``|H_d(R) - H_eq(R)|_F / |H_eq(R)|_F`` over all R, divided by the
displacement ``|u|`` (1/A), is reported before and after each step; physical
responses are of order 1/A.  All matrices are in eV, R in lattice-vector units,
centres in Angstrom, angles in radians.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

from ..errors import ModelMismatchError
from ..io.rvectors import r_keys

log = logging.getLogger("wanphonon")

#: Relative change of H(R) per Angstrom of displacement above which a run (after the
#: discrete alignment) is taken to be rotated within sites, and above which an aligned
#: run is refused; physical responses are of order 1/A (hBN: 0.65/A, the Cd3As2 model:
#: 4.1/A).  ``[wannier] max_change_per_A`` overrides it.
MAX_RESIDUAL_PER_A = 10.0
#: ... above which a consistently gauged run gets a note in the report.
WARN_RESIDUAL_PER_A = 5.0
#: Largest relative uncertainty of the chi terms (largest uncertainty over the largest
#: |chi term|) caused by a within-site rotation before a run is refused;
#: ``[wannier] max_gauge_uncertainty`` overrides it.
MAX_GAUGE_UNCERTAINTY = 0.05
#: WFs whose equilibrium centres are closer than this (A) and whose on-site energies
#: differ by less than SITE_ENERGY_EV may be rotated into each other.
SITE_RADIUS_A = 0.05
SITE_ENERGY_EV = 0.5
#: Scales of the fingerprint differences in the matching cost: a WF's centre (A) and
#: on-site energy (eV) move by O(u) with the displacement, its hopping profile by a
#: relative O(u q) (q <~ 1/A).  A cost below 1 per term is "the same WF".
MATCH_CENTRE_A = 0.1
MATCH_ENERGY_EV = 0.1
MATCH_PROFILE = 0.05
#: H(R) with imaginary parts below this fraction of its largest element counts as real (a
#: time-reversal symmetric spinless model): its responses have no phase-like part.
PHASE_REAL_TOLERANCE = 1e-3
#: Hoppings below this fraction of the largest one are left out of the profiles.
PROFILE_CUTOFF = 1e-3
#: Hoppings per block when the profiles are summed.
PROFILE_CHUNK = 1 << 16
#: Rounds of pairwise swaps tried among WFs with alike fingerprints.
MAX_SWAP_ROUNDS = 10
#: Fractions of the reciprocal vectors at which the profiles are probed.
_PROBE_FRACTIONS = (0.0, 0.25, 0.5, -0.25)


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
    """What :func:`align` did to one displaced run.

    ``permutation[a]``: the displaced WF that is equilibrium WF ``a``;
    ``translations[a]``: the lattice vector (lattice units) by which it was moved back;
    ``phases_rad[a]``: the phase removed from it (``w_a = exp(i phase)``);
    ``rotation``: ``None``, or the within-site groups (equilibrium numbering) that were
    rotated with their largest rotation angle (rad) and the kind of group.
    Residuals are relative changes of H(R) per A of displacement.
    """

    seedname: str
    permutation: list[int]
    translations: list[list[int]]
    phases_rad: list[float]
    residual_before_per_A: float
    residual_discrete_per_A: float
    residual_after_per_A: float
    rotation: dict | None = None
    notes: list[str] = field(default_factory=list)
    unitary: np.ndarray | None = field(default=None, repr=False)    # the rotation applied

    @property
    def unitary_applied(self) -> bool:
        return self.rotation is not None

    def describe(self) -> dict:
        return {"permutation": self.permutation,
                "translated_wfs": {i: t for i, t in enumerate(self.translations) if any(t)},
                "phases_rad": self.phases_rad,
                "residual_before_per_A": self.residual_before_per_A,
                "residual_discrete_per_A": self.residual_discrete_per_A,
                "residual_after_per_A": self.residual_after_per_A,
                "unitary_applied": self.unitary_applied, "rotation": self.rotation,
                "notes": self.notes}


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


# ----------------------------------------------------------------------------- discrete step
def _probe_vectors(lattice: np.ndarray) -> np.ndarray:
    """Probe wave vectors ``q`` (1/A): fractions of the reciprocal lattice vectors."""
    recip = 2 * np.pi * np.linalg.inv(lattice).T
    f = np.array(np.meshgrid(*[_PROBE_FRACTIONS] * 3, indexing="ij")).reshape(3, -1).T
    return f @ recip


def hopping_profiles(model: RealSpaceModel, lattice: np.ndarray) -> np.ndarray:
    """``p[a, q] = sum_{(b,R) != (a,0)} |H_ab(R)| exp(i q.d_ab(R))`` (eV), see the module docstring.

    Unchanged by any permutation, rephasing or lattice translation of the WFs.
    """
    n = model.H.shape[-1]
    centres = model.centres if model.centres is not None else np.zeros((n, 3))
    w = np.abs(model.H)
    w[~model.R.any(axis=1), np.arange(n), np.arange(n)] = 0.0
    r, a, b = np.nonzero(w > PROFILE_CUTOFF * w.max(initial=0.0))
    q = _probe_vectors(lattice)
    out = np.zeros((n, len(q)), dtype=complex)
    for s in range(0, len(r), PROFILE_CHUNK):           # bounded memory for large models
        k = slice(s, s + PROFILE_CHUNK)
        d = model.R[r[k]] @ lattice + centres[b[k]] - centres[a[k]]     # (M, 3) A
        rows = scipy.sparse.csr_matrix((w[r[k], a[k], b[k]], (a[k], np.arange(len(d)))),
                                       shape=(n, len(d)))
        out += rows @ np.exp(1j * d @ q.T)
    return out


def matching_cost(eq: RealSpaceModel, disp: RealSpaceModel, lattice: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``cost[a, b]`` of taking displaced WF ``b`` for equilibrium WF ``a`` and the
    lattice translation ``shifts[a, b]`` (lattice units) between their centres."""
    n = eq.H.shape[-1]
    cost = ((eq.onsite()[:, None] - disp.onsite()[None, :]) / MATCH_ENERGY_EV) ** 2
    p_eq, p_d = hopping_profiles(eq, lattice), hopping_profiles(disp, lattice)
    diff = np.linalg.norm(p_eq[:, None, :] - p_d[None, :, :], axis=-1)
    size = np.sqrt(np.sum(np.abs(p_eq) ** 2, 1)[:, None] + np.sum(np.abs(p_d) ** 2, 1)[None, :])
    cost = cost + (diff / np.maximum(size, 1e-300) / MATCH_PROFILE) ** 2
    shifts = np.zeros((n, n, 3), dtype=int)
    if eq.centres is not None and disp.centres is not None:
        d = disp.centres[None, :, :] - eq.centres[:, None, :]          # (a_eq, b_disp, 3)
        shifts = np.rint(d @ np.linalg.inv(lattice)).astype(int)
        rest = d - shifts @ lattice
        cost = cost + np.sum(rest ** 2, axis=-1) / MATCH_CENTRE_A ** 2
    return cost + 1e-9 * (1 - np.eye(n)), shifts      # ties keep the order


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


def fit_phases(h_eq: np.ndarray, h_d: np.ndarray, size: int = 1, iterations: int = 100) -> np.ndarray:
    """Unit-modulus ``w`` with ``H_d,ab ~ w_a conj(w_b) H_eq,ab`` (least squares); with
    ``size = 2`` one phase per Kramers pair ``(2i, 2i+1)``.

    Phase synchronisation on ``C_ab = sum_R conj(H_eq,ab) H_d,ab``: the leading
    eigenvector of C, projected on unit moduli, then ``w <- phase(C w)`` (each step
    raises ``Re w^dagger C w``).  WFs coupled to nothing keep ``w = 1``.
    """
    c = np.einsum("rab,rab->ab", np.conj(h_eq), h_d)
    n = len(c)
    if size > 1:        # one phase per unit: sum C over the units' blocks
        c = c.reshape(n // size, size, n // size, size).sum(axis=(1, 3))
        h_eq = np.abs(h_eq).reshape(len(h_eq), n // size, size, n // size, size).sum(axis=(2, 4))
    np.fill_diagonal(c, 0.0)
    c = 0.5 * (c + np.conj(c.T))
    if not np.any(c):
        return np.ones(n, dtype=complex)
    w = np.linalg.eigh(c)[1][:, -1]
    shifted = c + np.abs(c).sum(1).max() * np.eye(len(c))     # positive definite: monotone ascent
    for _ in range(iterations):
        cw = shifted @ w
        new = np.where(np.abs(cw) > 1e-300, cw / np.maximum(np.abs(cw), 1e-300), 1.0)
        if np.allclose(new, w, rtol=0, atol=1e-15):
            break
        w = new
    w = np.where(np.abs(w) > 0, w / np.maximum(np.abs(w), 1e-300), 1.0)
    # blocks of WFs that H_eq does not couple (sigma and pi bands of a planar crystal, spins):
    # their relative phase is free; each block's phases are centred on zero
    weight = np.einsum("rab->ab", np.abs(h_eq) ** 2)
    _, label = connected_components(weight > 1e-12 * weight.max(), directed=False)
    for b in np.unique(label):
        mean = np.sum(w[label == b])
        if abs(mean) > 0:
            w[label == b] *= np.conj(mean) / abs(mean)
    return np.repeat(w, size)


def _relative_change(h_eq: np.ndarray, h_d: np.ndarray) -> float:
    return float(np.linalg.norm(h_d - h_eq) / np.linalg.norm(h_eq))


def _discrete_try(eq, disp, lattice, perm, shifts, size):
    T = shifts[np.arange(len(perm)), perm]
    moved = permute_and_translate(disp, perm, T, lattice)
    R, (h_eq, h_d) = on_common_r([eq, moved])
    w = fit_phases(h_eq, h_d, size)
    h_d = np.conj(w)[None, :, None] * h_d * w[None, None, :]
    return _relative_change(h_eq, h_d), R, h_eq, h_d, T, w, moved.centres


def discrete_alignment(eq: RealSpaceModel, disp: RealSpaceModel, lattice: np.ndarray,
                       spinors: bool = False):
    """The monomial gauge change (permutation x phases x lattice translations) that best maps
    ``disp`` onto ``eq``.

    Returns ``(perm, T, w, R, h_eq, h_d, centres)``: displaced WF ``perm[a]``, moved back by
    the lattice vector ``T[a]`` and multiplied by ``conj(w[a])``, is equilibrium WF ``a``;
    ``h_eq``, ``h_d`` are both runs on the common R list ``R`` in that gauge.  With
    ``spinors`` the units are Kramers pairs ``(2i, 2i+1)`` (Wannier90's order: up, down):
    pairs are permuted as wholes and get one phase each.
    """
    size = 2 if spinors and eq.H.shape[-1] % 2 == 0 else 1
    cost, shifts = matching_cost(eq, disp, lattice)
    m = len(cost) // size
    unit_cost = sum(cost[k::size, k::size] for k in range(size))            # (m, m)
    rows, cols = linear_sum_assignment(unit_cost)
    units = cols[np.argsort(rows)]

    def expand(u):
        return (size * u[:, None] + np.arange(size)[None, :]).reshape(-1)

    best = _discrete_try(eq, disp, lattice, expand(units), shifts, size)
    # units with alike fingerprints (symmetric orbitals, the shells of one site): their
    # swaps are tried on the full residual
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)
             if unit_cost[i, units[j]] + unit_cost[j, units[i]]
             < unit_cost[i, units[i]] + unit_cost[j, units[j]] + 2 * size]
    for _ in range(min(m, MAX_SWAP_ROUNDS)):
        improved = None
        for i, j in pairs:
            trial = units.copy()
            trial[[i, j]] = trial[[j, i]]
            res = _discrete_try(eq, disp, lattice, expand(trial), shifts, size)
            if res[0] < (improved or best)[0] * (1 - 1e-9):
                improved, swapped = res, trial
        if improved is None:
            break
        best, units = improved, swapped
    _, R, h_eq, h_d, T, w, centres = best
    return expand(units), T, w, R, h_eq, h_d, centres


# ----------------------------------------------------------------------------- rotations
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


def kramers_pairs(eq: RealSpaceModel) -> list[np.ndarray]:
    """Spinor WFs ``(2i, 2i+1)`` (Wannier90's order: up, down of each projection) that share
    a site; the others stay single."""
    n = eq.H.shape[-1]
    groups = []
    for i in range(0, n - 1, 2):
        same = eq.centres is None or np.linalg.norm(eq.centres[i] - eq.centres[i + 1]) < SITE_RADIUS_A
        groups += [np.array([i, i + 1])] if same else [np.array([i]), np.array([i + 1])]
    return groups + ([np.array([n - 1])] if n % 2 else [])


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
    # sum_R conj(H_d[c, a]) H_eq[d, b] and conj(H_eq[b, d]) H_d[a, c], only for pairs (ab), (cd)
    cross1 = np.einsum("rqp,rqp->pq", np.conj(h_d)[:, a1, a_idx[None, :]], h_eq[:, b1, b_idx[None, :]])
    cross2 = np.einsum("rpq,rpq->pq", np.conj(h_eq)[:, b1, d1], h_d[:, a1, c1])
    gram = ((b1 == d1) * s_d[a1, c1] + (a1 == c1) * s_e[b1, d1] - cross1 - cross2)
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


def generator(unitary: np.ndarray) -> np.ndarray:
    """Hermitian ``K`` with ``unitary = exp(i K)`` (eigen-angles in (-pi, pi])."""
    t, z = scipy.linalg.schur(unitary, output="complex")
    return (z * np.angle(np.diag(t))[None, :]) @ np.conj(z.T)


def _rotation_angle(block: np.ndarray) -> float:
    """Largest rotation angle (rad) of a unitary block, its common phase taken out."""
    ang = np.angle(np.linalg.eigvals(block))
    ang = np.angle(np.exp(1j * (ang - np.angle(np.mean(np.exp(1j * ang))))))
    return float(np.max(np.abs(ang)))


def _rotate(h_eq, h_d, groups, size, max_change, seedname):
    """Fit the within-group rotation, keep it only in groups rotated by more than a response."""
    singles = [np.array([i]) for i in range(h_eq.shape[-1])]
    u_raw, gram_w = intertwiner(h_eq, h_d, groups)
    if len(gram_w) > 1 and gram_w[1] < 1e-8 * gram_w[-1]:
        raise ModelMismatchError(
            f"displaced run '{seedname}' is rotated within sites with respect to the equilibrium run, "
            "and the equilibrium model has an internal symmetry (decoupled blocks such as valleys or "
            "spins) that leaves the relative gauge undetermined by H(R)",
            path=seedname,
            fix="Wannierise the displaced runs consistently with the equilibrium run (same "
                "projections, windows and starting guess), so that no alignment is needed")
    unitary = nearest_unitary_blocks(u_raw, groups)
    # a group's rotation that changes H(R) by less than max_change per A beyond its phases
    # may be a response: such a group keeps only its phases
    scale = np.linalg.norm(h_eq) * size
    fitted = np.conj(unitary.T)[None] @ h_d @ unitary
    kept = []
    for g in (g for g in groups if len(g) > 1):
        alt = unitary.copy()
        d = np.diag(unitary)[g]
        alt[np.ix_(g, g)] = np.diag(np.where(np.abs(d) > 0, d / np.maximum(np.abs(d), 1e-300), 1.0))
        if np.linalg.norm(np.conj(alt.T)[None] @ h_d @ alt - fitted) > max_change * scale:
            kept.append(g)
    if not kept:
        return None, None
    covered = np.concatenate(kept)
    fit_groups = kept + [s for s in singles if s[0] not in covered]
    unitary = nearest_unitary_blocks(intertwiner(h_eq, h_d, fit_groups)[0], fit_groups)
    return unitary, kept


def align(eq: RealSpaceModel, disp: RealSpaceModel, lattice: np.ndarray, u: np.ndarray,
          seedname: str, max_change: float = MAX_RESIDUAL_PER_A,
          spinors: bool = False) -> tuple[RealSpaceModel, AlignmentReport]:
    """The displaced model in the gauge of ``eq`` and a report (see module docstring).

    First the discrete step (always; the identity for a consistently gauged run),
    then, only if the relative change per A is still above ``max_change``, a rotation
    within Kramers pairs (``spinors``) or same-site groups.
    """
    size = float(np.linalg.norm(u))
    _, (h0_eq, h0_d) = on_common_r([eq, disp])
    before = _relative_change(h0_eq, h0_d) / size
    perm, T, w, R, h_eq, h_d, centres = discrete_alignment(eq, disp, lattice, spinors)
    notes = []
    if np.max(np.abs(np.angle(w))) <= max_change * size:
        # phases this small may be a response (u-dependent orbital phases): leave them
        h_d = w[None, :, None] * h_d * np.conj(w)[None, None, :]
        w = np.ones_like(w)
    else:
        notes.append("Wannier functions rephased")
    # phases are exact for a real H(R) (a time-reversal symmetric spinless model: its response
    # has no phase-like part) and, one per Kramers pair, for a time-reversal symmetric spinor
    # model; for another complex H(R) they are as ambiguous as a rotation
    ambiguous_phases = (not spinors and np.max(np.abs(np.angle(w))) > 0
                        and np.abs(h_eq.imag).max() > PHASE_REAL_TOLERANCE * np.abs(h_eq).max())
    if ambiguous_phases:
        notes.append("H(R) is complex: a phase-like part of the genuine response (u-dependent "
                     "orbital phases) cannot be told from the rephasing and was removed with it")
    discrete = _relative_change(h_eq, h_d) / size
    after, rotation, unitary = discrete, None, None
    if not np.array_equal(perm, np.arange(len(perm))):
        notes.append("Wannier functions reordered")
    if T.any():
        notes.append("Wannier functions translated by lattice vectors")
    if discrete > max_change:
        tries = ([("Kramers pairs", kramers_pairs(eq))] if spinors else []) \
            + [("same-site groups", site_groups(eq))]
        for kind, groups in tries:
            unitary, kept = _rotate(h_eq, h_d, groups, size, max_change, seedname)
            if unitary is None:
                continue
            rotated = np.conj(unitary.T)[None] @ h_d @ unitary
            after = _relative_change(h_eq, rotated) / size
            rotation = {"kind": kind, "groups": [g.tolist() for g in kept],
                        "angles_rad": [_rotation_angle(unitary[np.ix_(g, g)]) for g in kept]}
            if after <= max_change:
                break
        if rotation is not None:
            h_d = rotated
            notes.append(f"rotated within {rotation['kind']} {rotation['groups']} by up to "
                         f"{max(rotation['angles_rad']):.3g} rad: ambiguous, see the gauge uncertainty")
    elif discrete > min(WARN_RESIDUAL_PER_A, max_change):
        notes.append(f"H(R) changes by {discrete:.1f} per A of displacement, more than usual: check "
                     "that this run was Wannierised like the equilibrium run")
    if ambiguous_phases:
        phased = np.flatnonzero(np.abs(np.angle(w)) > 0)
        covered = {a for g in (rotation or {}).get("groups", []) for a in g}
        extra = [[int(a)] for a in phased if a not in covered]
        rotation = rotation or {"kind": "phases of a complex H(R)", "groups": [], "angles_rad": []}
        rotation["groups"] += extra
        rotation["angles_rad"] += [float(abs(np.angle(w[g[0]]))) for g in extra]
        unitary = np.diag(w) @ (unitary if unitary is not None else np.eye(len(w)))
    report = AlignmentReport(seedname, perm.tolist(), T.tolist(), np.angle(w).tolist(), before,
                             discrete, after, rotation, notes, unitary)
    if after > max_change:
        raise ModelMismatchError(
            f"displaced run '{seedname}' cannot be aligned to the equilibrium Wannier gauge: after "
            f"reordering, translating, rephasing and rotating the Wannier functions, H(R) still "
            f"differs by {100 * after * size:.1f}% from equilibrium for a displacement of {size:.4g} A "
            f"({after:.1f} per A; physical responses are of order 1 per A)",
            path=seedname,
            fix="rerun Wannier90 for this structure with the same projections, windows, num_bands, "
                "k-mesh and iteration settings as the equilibrium run (and symmetry off in the DFT "
                "run), or use a smaller displacement; if the response really is this strong, raise "
                f"[wannier] max_change_per_A (now {max_change:g})")
    return RealSpaceModel(R, h_d, centres), report


# ----------------------------------------------------------------------------- uncertainty
def removed_component(h_eq: np.ndarray, d_h: np.ndarray, stencil_apply, reports: list[AlignmentReport]
                      ) -> tuple[np.ndarray | None, dict]:
    """An estimate ``(2, nR, N, N)`` (eV/A) of the rotation-like part of dH/du that the
    within-site rotations of ``reports`` (one ion's runs) removed, or None if none was rotated.

    H(R) cannot tell a gauge rotation from a genuine response of the same form,
    ``i [K, H_eq(R)]``.  Its direction is taken from the rotations applied (their
    generators ``K_r``, combined with the stencil ``stencil_apply`` like the runs
    themselves), its size from the response that is kept: as large as the retained
    dH/du of the rotated WFs (every element in a row or column of one of them).
    ``h_eq``, ``d_h`` are on one R list; ``d_h`` is ``(2, nR, N, N)``.
    """
    if not any(r.unitary_applied for r in reports):
        return None, {}
    n = h_eq.shape[-1]
    gens = np.array([generator(r.unitary) if r.unitary_applied else np.zeros((n, n), complex)
                     for r in reports])
    k_dir = stencil_apply(gens)                                        # (2, N, N) 1/A
    rows = sorted({a for r in reports if r.unitary_applied for g in r.rotation["groups"] for a in g})
    mask = np.zeros((n, n), bool)
    mask[rows, :] = mask[:, rows] = True
    out = np.zeros_like(d_h)
    sizes = []
    for a in range(2):
        k = k_dir[a] if np.linalg.norm(k_dir[a]) > 1e-12 else gens.sum(0)
        comm = 1j * (k[None] @ h_eq - h_eq @ k[None])
        rho = float(np.linalg.norm(d_h[a][:, mask]))
        norm = float(np.linalg.norm(comm))
        out[a] = rho * comm / norm if norm > 0 else 0.0
        sizes.append(rho)
    return out, {"size_eV_per_A": sizes, "rotated_wfs": rows,
                 "relative_to_dH_du": [s / max(float(np.linalg.norm(d_h[a])), 1e-300)
                                       for a, s in enumerate(sizes)]}


def gauge_uncertainty(calc, integrals, comm) -> None:
    """Uncertainty of every chi term (and the Born charge) caused by within-site rotations.

    ``calc.setup.gauge_variants`` (set by the builder when a rotation was applied)
    carry dH/du plus and minus the removed component (:func:`removed_component`);
    each is integrated on the same grid, and the larger change of every term is its
    uncertainty (spin degeneracy applied, units of ``chi``); a composite term (born,
    topological, nontopological) gets at least the sum of its parts' uncertainties.  The result goes into
    ``calc.system.info["gauge"]`` (so into result.json's ``gauge`` section), a
    WARNING is logged, and the run is refused (on every rank) when the largest
    uncertainty exceeds ``[wannier] max_gauge_uncertainty`` times the largest |chi term|.
    """
    variants = calc.setup.gauge_variants
    if not variants:
        return
    from ..engine.integrate import integrate
    from ..results import chi_terms
    found = [integrate(v, calc.grid, calc.occupation, comm=comm) for v in variants]
    threshold = calc.config.wannier.max_gauge_uncertainty or MAX_GAUGE_UNCERTAINTY
    relative = None
    if comm.rank == 0:
        g = calc.setting.spin_degeneracy
        base = chi_terms(integrals.values, g)
        unc = {k: max(abs(chi_terms(f.values, g)[k] - v) for f in found) for k, v in base.items()}
        # composite terms: at least the sum of their parts' uncertainties (the parts may cancel
        # in the direction probed, not in the unknown one)
        for key, parts in (("born", ("born_a", "born_b")), ("topological", ("born", "energy")),
                           ("nontopological", ("total", "topological"))):
            unc[key] = max(unc[key], sum(unc[p] for p in parts))
        born = max(float(np.max(np.abs(f.born_charge - integrals.born_charge))) for f in found)
        cell = calc.setting.cell_measure or 1.0
        scale = max(abs(v) for v in base.values())
        relative = max(unc.values()) / scale if scale > 0 else float("inf")
        record = calc.system.info.setdefault("gauge", {})
        record.update({"chi_uncertainty": unc, "born_charge_uncertainty": g * cell * born,
                       "relative_uncertainty": relative, "max_gauge_uncertainty": threshold})
        log.warning("gauge: an ambiguous alignment (a rotation within sites, or phases of a complex "
                    "H(R)) was applied to %s; it may have removed part of the genuine response: chi "
                    "total %.6g +- %.3g, topological %.6g +- %.3g (relative uncertainty %.2g, limit "
                    "%.2g)", ", ".join(record.get("rotated_runs", [])),
                    base["total"], unc["total"], base["topological"], unc["topological"], relative,
                    threshold)
    relative = comm.bcast(relative, root=0)
    if relative > threshold:
        raise ModelMismatchError(
            f"the gauge alignment rotated Wannier functions within sites (or rephased those of a "
            f"complex H(R)), and the chi terms depend on that step by up to {100 * relative:.3g}% "
            f"of the largest term (limit {100 * threshold:.3g}%): the genuine response cannot be "
            "told from a gauge rotation",
            path=calc.config.path,
            fix="Wannierise the displaced runs consistently with the equilibrium run (wanphonon "
                "prepare writes such .win files; see docs/gauge.md), or accept the uncertainty by "
                f"raising [wannier] max_gauge_uncertainty (now {threshold:g})")


def describe_lines(alignment: dict) -> list[str]:
    """One line per displaced run of what the alignment does (for ``wanphonon check``)."""
    lines = []
    for seed, a in alignment.items():
        parts = []
        if a["permutation"] != sorted(a["permutation"]):
            parts.append(f"permutation {a['permutation']}")
        if a["translated_wfs"]:
            parts.append(f"translations {a['translated_wfs']}")
        phases = np.abs(a["phases_rad"])
        if phases.max(initial=0.0) > 1e-6:
            parts.append(f"phases on {int(np.count_nonzero(phases > 1e-6))} WFs")
        if a["rotation"]:
            parts.append(f"ROTATION within {a['rotation']['kind']} {a['rotation']['groups']} "
                         f"(up to {max(a['rotation']['angles_rad']):.3g} rad; ambiguous)")
        lines.append(f"  gauge {seed:<24} {'; '.join(parts) or 'none needed'}; change "
                     f"{a['residual_before_per_A']:.3g}/A -> {a['residual_after_per_A']:.3g}/A")
    return lines
