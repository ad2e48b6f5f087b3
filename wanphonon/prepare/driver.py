"""``prepare``: from a prepare configuration to the run folders, ``wanphonon.toml`` and a report.

Steps (one module each): read the configuration (:mod:`.schema`); the structure
and its supercell (:mod:`.structure`); the phonon pair (:mod:`.phonons`,
:mod:`.pair`) or the explicit mode; the pattern ``C_kappa`` and the mode weight
(:mod:`.pattern`); symmetry (:mod:`.symmetry`); the runs (:mod:`.runs`); the
``.win`` template (:mod:`.wannier90`); the DFT inputs (:mod:`.dft`);
``wanphonon.toml`` (:mod:`.toml_out`); the read-back checks (:mod:`.selfcheck`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from . import runs as runs_mod
from . import schema, selfcheck, symmetry, toml_out, wannier90
from .dft import writer
from .pair import default_representative, select_pair
from .pattern import DisplacementPair, from_vectors, vectors_from_list, vectors_from_pattern
from .phonons import PhononSource, from_phonopy, load_source, match_atoms
from .structure import Structure, build, read_structure

WIN_COMMENT = "written by wanphonon prepare: settings identical in every run, only atoms_cart differs"


@dataclass
class PrepareResult:
    out_dir: str
    config_path: str                    # DIR/wanphonon.toml
    report: dict
    warnings: list[str] = field(default_factory=list)
    structure: Structure | None = None
    pattern: DisplacementPair | None = None

    @property
    def runs(self) -> list[str]:
        return [r["name"] for r in self.report["runs"]]

    def summary(self) -> str:
        r = self.report
        st, pg = r["structure"], r["point_group"]
        lines = [f"structure: {st['source']} ({st['atoms']} atoms: {', '.join(st['labels'])})"
                 + (f", 2D slab (vacuum {st['vacuum_A']:.1f} A along a3)" if st["slab"] else ", bulk"),
                 f"point group (equilibrium): {pg['international']} ({pg['schoenflies']}), space group "
                 f"{pg['space_group']}"]
        m = r["mode"]
        src = m["source"]
        if "qpoint" in m:
            src += (f", q = {np.round(m['qpoint'], 6).tolist()}, bands {m['bands']} ("
                    + ", ".join(f"{f:.4f}" for f in m["frequencies_THz"]) + " THz)")
        lines.append(f"mode: {src}")
        pattern = ", ".join(f"{k} = {v}" for k, v in m["pattern"].items()) or "(no other ion moves)"
        lines.append(f"representative: {m['representative']}; pattern: {pattern}")
        lines.append(f"mode_weight = {m['mode_weight']:.6g} (|e_rep|^2 of the pair: "
                     f"{m['mode_weight_pair']:.6g})")
        lines.append(f"symmetry: {r['symmetry']['verdict']}")
        lines.append(f"runs ({r['runs_kind']}): " + ", ".join(
            f"{x['name']} [{x['point_group']['international']}]" for x in r["runs"]))
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append(f"wrote {len(r['runs'])} run folders, {self.config_path}")
        return "\n".join(lines)


def _as_config(config) -> schema.PrepareConfig:
    if isinstance(config, schema.PrepareConfig):
        return config
    if isinstance(config, dict):
        return schema.from_dict(config)
    return schema.load(os.fspath(config))


def _masses(cfg, atoms, source: PhononSource | None, where: str) -> np.ndarray:
    overrides = cfg.get("mode", "masses", {})
    if source is not None:
        if overrides:
            raise ConfigError("[mode] masses cannot change the masses of a phonopy mode", path=where,
                              fix="the eigenvectors belong to phonopy's masses: remove [mode] masses")
        return np.asarray(source.masses, float)
    masses = np.asarray(atoms.get_masses(), float)
    symbols = atoms.get_chemical_symbols()
    low = {k.lower(): float(v) for k, v in overrides.items()}
    unknown = set(low) - {s.lower() for s in symbols}
    if unknown:
        raise ConfigError(f"[mode] masses names {sorted(unknown)}, not species of the structure", path=where,
                          fix="key the masses by chemical symbol")
    return np.array([low.get(s.lower(), m) for s, m in zip(symbols, masses)])


def _mode(cfg, structure: Structure, source, where: str):
    mode = cfg.table("mode")
    rep = structure.index_of(mode["representative"], where) if "representative" in mode else None
    if source is not None:
        pair = select_pair(structure, source, mode.get("qpoint", [0.0, 0.0, 0.0]), mode.get("bands"), rep, where)
        vectors, info = pair.vectors, pair.info
    elif "pattern" in mode:
        vectors, info = vectors_from_pattern(mode["pattern"], structure, rep, where), {"source": "explicit pattern"}
    elif "vectors" in mode:
        vectors, info = vectors_from_list(mode["vectors"], structure, where), {"source": "explicit vectors"}
    else:
        raise ConfigError("[mode] gives no mode", path=where,
                          fix="give pattern = { ... } (with representative), vectors = [...], or phonopy = \"...\"")
    if rep is None:
        rep = default_representative(vectors, structure.masses)
        info["representative_choice"] = "automatic (largest in-plane share of the pair)"
    return from_vectors(vectors, structure.masses, structure, rep, where, info)


def _check_out_dir(out_dir: str, overwrite: bool) -> None:
    target = os.path.join(out_dir, "wanphonon.toml")
    if os.path.exists(target) and not overwrite:
        raise ConfigError(f"{target} is already there", path=out_dir,
                          fix="choose another --out directory, or pass --overwrite")
    os.makedirs(out_dir, exist_ok=True)


def _structure_and_phonons(cfg, phonon, where: str) -> tuple[Structure, PhononSource | None]:
    st_t, mode_t = cfg.table("structure"), cfg.table("mode")
    user_atoms = (read_structure(cfg.resolve(st_t["file"]), st_t.get("format"), where)
                  if "file" in st_t else None)
    source = None
    if phonon is not None:
        source = from_phonopy(phonon)
    elif "phonopy" in mode_t:
        source = load_source(cfg.resolve(mode_t["phonopy"]), user_atoms, None, where)
    if source is None and any(k in mode_t for k in ("qpoint", "bands")):
        raise ConfigError("[mode] qpoint/bands need phonons", path=where,
                          fix="give [mode] phonopy or pass a Phonopy object")
    if source is not None and any(k in mode_t for k in ("pattern", "vectors")):
        raise ConfigError("[mode] gives an explicit mode and phonons", path=where,
                          fix="remove [mode] pattern/vectors, or do not pass phonons")
    if user_atoms is None and source is None:
        raise ConfigError("no structure given", path=where,
                          fix="add [structure] file = \"POSCAR\" (or [mode] phonopy = \"phonopy.yaml\", whose "
                              "cell is then used)")
    if source is not None and user_atoms is not None:
        source = match_atoms(source, user_atoms, where)
    prim = user_atoms if user_atoms is not None else source.primitive
    masses = _masses(cfg, prim, source, where)
    structure = build(prim, st_t.get("supercell"), masses, where,
                      source=st_t.get("file", source.description if source else ""))
    return structure, source


def _write_runs(out_dir: str, plan, structure: Structure, tpl, code, dft: dict, symprec: float):
    """Every run's folder; returns the seednames (relative to out_dir) and the per-run reports."""
    seednames, reports = {}, []
    for run in plan:
        folder = os.path.join(out_dir, run.name)
        os.makedirs(folder, exist_ok=True)
        displaced = structure.atoms.copy()
        displaced.positions = structure.atoms.positions + run.displacement
        seed = code.seedname(run.name)
        seednames[run.name] = f"{run.name}/{seed}"
        wannier90.write(os.path.join(folder, f"{seed}.win"), tpl, structure, displaced.positions, WIN_COMMENT)
        files = code.write(folder, run.name, structure, displaced.positions, tpl, dft)
        displaced.write(os.path.join(folder, "structure.extxyz"), format="extxyz")
        reports.append({"name": run.name, "ion": run.ion, "u": run.u.tolist(),
                        "point_group": symmetry.point_group(displaced, symprec),
                        "files": [os.path.relpath(f, out_dir) for f in files]
                        + [f"{run.name}/{seed}.win", f"{run.name}/structure.extxyz"]})
    script = os.path.join(out_dir, "run_all.sh")
    with open(script, "w") as fh:
        fh.write(code.script([r.name for r in plan], dft))
    os.chmod(script, 0o755)
    return seednames, reports


def _warnings(code, rule: dict, pattern: DisplacementPair, plan, delta: float, symprec: float, settings: dict,
              tpl) -> list[str]:
    out = [f"run every structure, the equilibrium one included, WITHOUT symmetry ({code.SYMMETRY_SETTINGS}: "
           "written): a symmetrised displaced run is wrong"]
    if not rule["out_of_plane_allowed"]:
        out.append("M_z of this pair is forbidden by symmetry: expect a vanishing out-of-plane moment")
    info = pattern.info
    if "degenerate" in info and not info["degenerate"] and len(info.get("bands", [])) != 1:
        out.append("the chosen bands are not degenerate: a circular motion of u is not a normal mode")
    if pattern.polarisation < 0.999:
        out.append(f"the representative does not move on a circle in the pair's normal modes "
                   f"(ellipticity {pattern.polarisation:.3f}); mode_weight is the harmonic mean")
    moves = np.concatenate([np.linalg.norm(r.displacement, axis=1) for r in plan])
    smallest = float(moves[moves > 0].min())
    if smallest < 3 * symprec:
        out.append(f"some atom moves by only {smallest:.2g} A, comparable to symprec = {symprec}: the point "
                   "groups of the displaced structures may be too high; lower [structure] symprec")
    if delta > 0.03:
        out.append(f"delta = {delta} A is large: check linearity (second_order = true gives a Richardson "
                   "estimate in wanphonon run)")
    if "occupied_bands" not in settings and "fermi_energy" not in settings:
        out.append("set [electrons] occupied_bands in wanphonon.toml (or [wanphonon] occupied_bands here)")
    return out + tpl.notes


def prepare(config, out_dir: str, *, phonon=None, overwrite: bool = False) -> PrepareResult:
    """Write the run folders, ``wanphonon.toml``, ``run_all.sh`` and ``prepare.json`` into ``out_dir``.

    ``config``: a path, a dictionary of the TOML's shape, or a :class:`~.schema.PrepareConfig`;
    ``phonon``: a Phonopy object with force constants (instead of ``[mode] phonopy``).
    """
    cfg = _as_config(config)
    where = cfg.where
    structure, source = _structure_and_phonons(cfg, phonon, where)
    pattern = _mode(cfg, structure, source, where)

    symprec = float(cfg.get("structure", "symprec", 1e-3))
    pg_eq = symmetry.point_group(structure.atoms, symprec)
    rule = symmetry.moment_rule(structure.atoms, pattern.vectors, symprec)

    kind = cfg.get("mode", "runs", "mode")
    delta = float(cfg.get("displacements", "delta", 0.01))
    plan = runs_mod.plan(pattern, kind, delta, bool(cfg.get("displacements", "second_order", False)))
    tpl = wannier90.template(cfg.table("wannier"), structure, where)
    dft = cfg.table("dft")
    code = writer(dft["code"])
    code.check(dft, structure, where)
    settings = cfg.table("wanphonon")

    _check_out_dir(out_dir, overwrite)
    seednames, run_reports = _write_runs(out_dir, plan, structure, tpl, code, dft, symprec)
    toml_path = os.path.join(out_dir, "wanphonon.toml")
    with open(toml_path, "w") as fh:
        fh.write(toml_out.render(plan, seednames, pattern, structure, settings, pattern.info,
                                 os.path.basename(cfg.path) if cfg.path else "a prepare configuration"))
    warnings = _warnings(code, rule, pattern, plan, delta, symprec, settings, tpl)
    report = {
        "structure": {"source": structure.source, "atoms": len(structure.labels), "labels": structure.labels,
                      "masses_amu": structure.masses.tolist(), "supercell": structure.supercell.tolist(),
                      "slab": structure.is_2d, "vacuum_A": structure.vacuum_A,
                      "cell_A": structure.atoms.cell[:].tolist(),
                      "positions_A": structure.atoms.positions.tolist()},
        "point_group": pg_eq, "symprec_A": symprec,
        "mode": {**pattern.info, "representative": pattern.rep_label,
                 "pattern": {pattern.labels[i]: pattern.value(i) for i in pattern.moving()[1:]},
                 "mode_weight": pattern.weight, "mode_weight_pair": pattern.weight_pair,
                 "representative_ellipticity": pattern.polarisation,
                 "vectors_A": pattern.vectors.tolist()},
        "symmetry": {**rule, "verdict": symmetry.verdict(rule), "dft_settings": code.SYMMETRY_SETTINGS},
        "runs_kind": kind, "delta_A": delta, "runs": run_reports, "dft_code": dft["code"],
        "wannier": {"num_wann": tpl.num_wann, "num_bands": tpl.num_bands, "dft_bands": tpl.dft_bands,
                    "slab_settings": structure.is_2d},
        "warnings": warnings,
    }
    report["checks"] = selfcheck.verify(toml_path, pattern)
    with open(os.path.join(out_dir, "prepare.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    return PrepareResult(out_dir, toml_path, report, warnings, structure, pattern)
