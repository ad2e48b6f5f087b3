"""Lattice regularisations of the continuum Dirac models, as tight-binding models.

On a (tetragonal) lattice with constants ``a`` (in plane) and ``c`` the
continuum functions are replaced by periodic ones that agree to second order
at k = 0:

    v k_x        -> (v / a) sin(k_x a)
    Delta1 kz^2  -> (2 Delta1 / c^2) (1 - cos kz c)
    k_par^2      -> (2 / a^2) (2 - cos kx a - cos ky a)

and a Wilson mass ``-Delta2 k_par^2`` (``Delta2`` in eV A^2) gaps the
doublers at the zone boundary, ``D(k) = Delta0 - Delta1 kz^2 - Delta2 k_par^2``.
The Wilson term ``-Delta2 k_par^2`` must carry the sign of the mass far from the
Dirac points (that of ``-Delta1 kz^2`` when ``Delta1 != 0``, else the opposite of
``Delta0``), i.e. ``Delta2`` has the sign of ``Delta1`` (or of ``-Delta0``): the
doublers then never invert and add no Dirac points.  The phonon coupling ``zeta (uy G_uy + ux G_ux)``
is k-independent: the ion displacement is a parameter and the orbitals sit at
the cell origin (``tau = 0``), so Bloch conventions I and II coincide.

The lattice models converge to the continuum ones when ``|D| a / v`` -> 0; at
finite ``a`` the doublers and the band curvature give corrections of relative
order ``(D a / v)^2``.
"""

from __future__ import annotations

import numpy as np

from .dirac import GAMMA_X, GAMMA_Y, GAMMA_Z, DiracContinuum
from .tight_binding import TightBinding


def dirac_lattice(model: DiracContinuum, *, a: float, c: float | None = None,
                  eps2: float = 0.0) -> TightBinding:
    """Tight-binding regularisation of a :class:`DiracContinuum` model.

    ``c`` None: a 2D square lattice (graphene, or a Cd3As2 slice at the model's
    kz), with 10 A of vacuum as third lattice vector.  Otherwise a 3D
    tetragonal lattice; kz enters only through ``D(kz)`` and ``eps(kz)``.
    The Wilson mass ``delta2`` is the model's own in-plane curvature if it has
    one, else a Wilson term of unit strength, ``|v| a / 2`` with the sign of
    ``Delta1`` (or of ``-Delta0`` when ``Delta1 = 0``).
    """
    delta2 = model.delta2 if model.delta2 != 0.0 else None
    if delta2 is None:
        sign = np.sign(model.delta1) if model.delta1 != 0 else -np.sign(model.delta0)
        delta2 = sign * abs(model.v) * a / 2
    three_d = c is not None
    if three_d and model.kz is not None:
        raise ValueError("a 3D lattice needs the kz-integrated model (no kz given)")
    kz = 0.0 if model.kz is None else model.kz
    d0 = model.mass(kz) if not three_d else model.delta0
    e0 = (model.eps0 + model.eps1 * kz ** 2) if not three_d else model.eps0
    eye = np.eye(4)
    hop_par = 2 * delta2 / a ** 2                # coefficient of (2 - cos kx a - cos ky a)
    eps_par = 2 * eps2 / a ** 2

    terms: dict[tuple[int, int, int], np.ndarray] = {}

    def add(r, m):
        terms[r] = terms.get(r, 0) + m

    onsite = (d0 - 2 * hop_par) * GAMMA_Z + (e0 + 2 * eps_par) * eye
    add((0, 0, 0), onsite)
    for axis, gamma in ((0, GAMMA_X), (1, GAMMA_Y)):
        r = [0, 0, 0]
        r[axis] = 1
        # (v/a) sin(k a) = (v/a) (e^{ika} - e^{-ika}) / 2i ;  -cos(k a) = -(e^{ika} + e^{-ika}) / 2
        hop = model.v / a / 2j * gamma + 0.5 * hop_par * GAMMA_Z - 0.5 * eps_par * eye
        add(tuple(r), hop)
        add(tuple(-x for x in r), np.conj(hop.T))
    if three_d:
        dz = 2 * model.delta1 / c ** 2
        ez = 2 * model.eps1 / c ** 2
        add((0, 0, 0), -dz * GAMMA_Z + ez * eye)
        hop = 0.5 * dz * GAMMA_Z - 0.5 * ez * eye
        add((0, 0, 1), hop)
        add((0, 0, -1), hop)

    rs = sorted(terms)
    R = np.array(rs, dtype=int)
    H_R = np.array([terms[r] for r in rs], dtype=complex)
    dH_R = np.zeros((2, len(rs), 4, 4), dtype=complex)
    origin = rs.index((0, 0, 0))
    dH_R[0, origin] = model.zeta * model.coupling_ux
    dH_R[1, origin] = model.zeta * model.coupling_uy
    lattice = np.diag([a, a, c if three_d else 10.0])
    return TightBinding(lattice, R, H_R, dH_R, np.zeros((4, 3)), np.zeros((2, 4, 3)),
                        name=model.name + "_lattice", n_occ=model.n_occ,
                        default_spin_degeneracy=model.default_spin_degeneracy,
                        info={"a": a, "c": c, "delta2": delta2, "eps2": eps2})
