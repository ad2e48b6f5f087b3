"""``DIR/wanphonon.toml``: the configuration of ``wanphonon run`` for the prepared runs.

Seednames are relative to ``DIR`` (``<run>/<seedname>``); ``u`` is the displaced
ion's in-plane move (the representative's for ``ion = "mode"`` runs); ``[phonon]``
carries the representative (``ion``; ``species`` or ``mass_amu`` for the magneton
conversion), the pattern of the other ions, ``mode_weight`` and, from phonopy,
the phonon energy.  Settings from ``[wanphonon]`` of the prepare file are copied.
"""

from __future__ import annotations

import json

from ..units import species_mass

THZ_TO_MEV = 4.135667696923859


def _v(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_v(y) for y in x) + "]"
    if isinstance(x, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_v(y)}" for k, y in x.items()) + " }"
    raise TypeError(type(x))


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def phonon_table(pattern, structure, settings: dict, pair_info: dict | None) -> dict:
    rep = pattern.representative
    label, symbol = pattern.rep_label, structure.symbols[rep]
    table: dict = {"ion": label}
    mass = float(pattern.masses[rep])
    try:
        standard = species_mass(symbol)
    except Exception:
        standard = None
    if standard is not None and abs(standard - mass) <= 1e-3 * mass:
        table["species"] = symbol
    else:
        table["mass_amu"] = mass
    others = {pattern.labels[i]: pattern.value(i) for i in pattern.moving()[1:]}
    if others:
        table["pattern"] = others
    table["mode_weight"] = pattern.weight
    valence = settings.get("valence")
    if isinstance(valence, dict):
        low = {k.lower(): v for k, v in valence.items()}
        out = {}
        for i in pattern.moving():
            lab, sym = pattern.labels[i], structure.symbols[i]
            v = low.get(lab.lower(), low.get(sym.lower()))
            if v is not None:
                out[lab] = v
        table["valence"] = out
    elif valence is not None:
        table["valence"] = valence
    if "phonon_energy_meV" in settings:
        table["phonon_energy_meV"] = settings["phonon_energy_meV"]
    elif pair_info and pair_info.get("frequencies_THz"):
        freqs = pair_info["frequencies_THz"]
        table["phonon_energy_meV"] = float(sum(freqs) / len(freqs) * THZ_TO_MEV)
    if "adiabatic_cutoff" in settings:
        table["adiabatic_cutoff"] = settings["adiabatic_cutoff"]
    return table


def render(runs, seednames: dict[str, str], pattern, structure, settings: dict, pair_info: dict | None,
           source: str) -> str:
    lines = [f"# Written by 'wanphonon prepare' from {source}.",
             "# Run every folder's DFT + Wannier90 calculation (run_all.sh), then:",
             "#   wanphonon run wanphonon.toml --out result", "", "[wannier]",
             f"seedname = {_v(seednames['eq'])}"]
    if "positions" in settings:
        lines.append(f"positions = {_v(settings['positions'])}")
    for run in runs:
        if run.ion is None:
            continue
        lines += ["", "[[displacement]]", f"seedname = {_v(seednames[run.name])}",
                  f"u = {_v([float(x) for x in run.u])}", f"ion = {_v(run.ion)}"]
    lines += ["", "[electrons]"]
    if "occupied_bands" in settings:
        lines.append(f"occupied_bands = {settings['occupied_bands']}")
    elif "fermi_energy" in settings:
        lines.append(f"fermi_energy = {_v(float(settings['fermi_energy']))}")
    else:
        lines.append("# occupied_bands = ?   # set this: occupied Wannier bands (per spin with "
                     "spin_degeneracy = 2)")
    if "spin_degeneracy" in settings:
        lines.append(f"spin_degeneracy = {settings['spin_degeneracy']}")
    kmesh = settings.get("kmesh", [48, 48, 1] if structure.is_2d else [24, 24, 24])
    lines += ["", "[kmesh]", f"size = {_v(list(kmesh))}" + ("" if "kmesh" in settings else
                                                           "   # converge this")]
    lines += ["", "[phonon]"]
    for k, v in phonon_table(pattern, structure, settings, pair_info).items():
        lines.append(f"{k} = {_v(v)}")
    return "\n".join(lines) + "\n"
