"""Built-in models by name, with their natural integration grids.

=========================  =====================================================
name                        system
=========================  =====================================================
``graphene_dirac``          paper Eq. 7, continuum plane (per spin; g_s = 2)
``cd3as2_dirac``            paper Eq. 8, continuum; ``kz`` given: one slice,
                            no ``kz``: kz-integrated 3D model
``graphene_dirac_lattice``  square-lattice regularisation of Eq. 7 (``a``)
``cd3as2_dirac_lattice``    tetragonal regularisation of Eq. 8 (``a``, ``c``);
                            with ``kz``: a 2D lattice slice
=========================  =====================================================
"""

from __future__ import annotations

import math

from ..config import Config
from ..engine.grids import PolarGrid, SlicedPolarGrid, UniformGrid
from ..errors import ConfigError
from .base import Setup
from .dirac import CD3AS2_PAPER, DiracContinuum, cd3as2_dirac, graphene_dirac
from .lattice_dirac import dirac_lattice

#: Defaults of the graphene model: t0 = 2.6 eV, a = 2.46 A -> v = (sqrt 3/2) t0 a.
GRAPHENE_DEFAULTS = {"delta": 0.1, "zeta": 12.0, "v": 5.539}

_GRAPHENE_KEYS = {"delta", "zeta", "v", "reading", "delta2", "a", "cell_area"}
_CD3AS2_KEYS = {"delta0", "delta1", "delta2", "eps0", "eps1", "eps2", "v", "zeta", "kz",
                "a", "c", "cell_area", "cell_volume"}


def continuum_model(cfg: Config) -> DiracContinuum:
    """The continuum model named in ``[model]`` (lattice names give the model they regularise)."""
    m = cfg.model.params
    name = cfg.model.name
    allowed = _GRAPHENE_KEYS if name.startswith("graphene") else _CD3AS2_KEYS
    extra = set(m) - allowed
    if extra:
        raise ConfigError(f"[model] keys {sorted(extra)} do not apply to {name}", path=cfg.path,
                          fix=f"keys for {name}: {', '.join(sorted(allowed))}")
    if name.startswith("graphene"):
        p = {k: float(m.get(k, GRAPHENE_DEFAULTS[k])) for k in GRAPHENE_DEFAULTS}
        if p["delta"] == 0:
            raise ConfigError("delta = 0 closes the gap of the graphene model", path=cfg.path,
                              fix="give a nonzero mass delta (eV)")
        return graphene_dirac(p["delta"], p["zeta"], p["v"], reading=m.get("reading", "matrix"),
                              delta2=float(m.get("delta2", 0.0)))
    p = {k: float(m.get(k, CD3AS2_PAPER[k])) for k in CD3AS2_PAPER}
    kz = m.get("kz")
    return cd3as2_dirac(**p, kz=None if kz is None else float(kz), delta2=float(m.get("delta2", 0.0)))


def _kz_roots(model: DiracContinuum, phonon_energy: float | None) -> list[float]:
    """kz > 0 where D(kz) = 0 or, with a cutoff, |D(kz)| = phonon_energy / 2."""
    levels = [0.0] + ([phonon_energy / 2, -phonon_energy / 2] if phonon_energy else [])
    roots = []
    for c in levels:
        x = (model.delta0 - c) / model.delta1
        if x > 0:
            roots.append(math.sqrt(x))
    return sorted(set(roots))


def _excluded_kz(model: DiracContinuum, phonon_energy: float) -> list[list[float]]:
    """kz > 0 intervals (1/A) where ``2|D(kz)| < phonon_energy`` (D = Delta0 - Delta1 kz^2)."""
    lo, hi = sorted(((model.delta0 - s * phonon_energy / 2) / model.delta1) for s in (1, -1))
    if hi <= 0:
        return []
    return [[math.sqrt(max(lo, 0.0)), math.sqrt(hi)]]


def build(cfg: Config) -> Setup:
    """The :class:`Setup` of a ``[model]`` configuration: the model and its natural grid."""
    m = cfg.model.params
    name = cfg.model.name
    model = continuum_model(cfg)
    e_p = cfg.phonon.phonon_energy if cfg.phonon.adiabatic_cutoff else None
    spin = dict(spin_degeneracy=model.default_spin_degeneracy, spin_source=f"the {name} model",
                occupied_bands=model.n_occ)
    if name.endswith("_lattice"):
        if "a" not in m:
            raise ConfigError(f"{name} needs the lattice constant a (Angstrom)", path=cfg.path,
                              fix="add a = <Angstrom> to [model]")
        three_d = name.startswith("cd3as2") and model.kz is None
        if three_d and "c" not in m:
            raise ConfigError("the 3D Cd3As2 lattice model needs c (Angstrom)", path=cfg.path,
                              fix="add c = <Angstrom> to [model], or kz for a single slice")
        system = dirac_lattice(model, a=float(m["a"]), c=float(m["c"]) if three_d else None,
                               eps2=float(m.get("eps2", 0.0)))
        size = cfg.kmesh.size or (96, 96, 48 if three_d else 1)
        if not three_d and size[2] != 1:
            raise ConfigError(f"{name} is two-dimensional: the k-mesh must be [n1, n2, 1]",
                              path=cfg.path, fix=f"set [kmesh] size = [{size[0]}, {size[1]}, 1]")
        grid = UniformGrid(system.lattice, size, cfg.kmesh.shift,
                           **({} if cfg.kmesh.batch_size is None else {"batch_size": cfg.kmesh.batch_size}))
        return Setup(system, grid, grid.dimension, grid.cell_measure, lattice=system.lattice, **spin)
    if cfg.kmesh.size is not None:
        raise ConfigError(f"{name} is a continuum model integrated on a polar grid; [kmesh] does "
                          "not apply", path=cfg.path,
                          fix="remove [kmesh] (use [integration] order/angles), or use the "
                              f"{name}_lattice model")
    order, angles = cfg.integration.order, cfg.integration.angles
    if model.dimension == 2:
        kz = 0.0 if model.kz is None else model.kz
        scale = float(model.length_scale(kz))
        if scale == 0.0:
            raise ConfigError(f"the mass D(kz = {kz}) vanishes: the gap is closed", path=cfg.path,
                              fix="choose a kz away from the Dirac point")
        grid = PolarGrid(scale, kz, order, angles)
        cell = m.get("cell_area")
    else:
        if model.delta1 == 0:
            raise ConfigError("the kz-integrated model needs delta1 != 0", path=cfg.path,
                              fix="give delta1 (eV A^2) or a single slice kz")
        grid = SlicedPolarGrid(model.mass, model.length_scale,
                               math.sqrt(abs(model.delta0 / model.delta1)),
                               _kz_roots(model, e_p), e_p, order, angles,
                               excluded_kz=None if e_p is None else _excluded_kz(model, e_p))
        cell = m.get("cell_volume")
    return Setup(model, grid, model.dimension, None if cell is None else float(cell), **spin)
