#!/usr/bin/env python3
"""Screening with the Python API: one call per material, one table at the end.

Runs wanphonon on several systems -- Wannier90 input (hBN from QE, the Cd3As2 stand-in)
and built-in models over a parameter sweep -- and prints the phonon moment per phonon
quantum and its parts.  Every entry is a configuration dictionary of the same shape as
a wanphonon.toml; paths are relative to this folder's parent (examples/).

    python examples/screening/screen.py
"""

from __future__ import annotations

import os

import wanphonon

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def hbn_mode() -> dict:
    """The hBN Gamma E' mode, read from its TOML and pointed at the shipped files."""
    import tomllib
    with open(os.path.join(EXAMPLES, "hbn_dft", "mode_Eprime.toml"), "rb") as fh:
        cfg = tomllib.load(fh)
    folder = os.path.join(EXAMPLES, "hbn_dft")
    cfg["wannier"]["seedname"] = os.path.join(folder, cfg["wannier"]["seedname"])
    for d in cfg["displacement"]:
        d["seedname"] = os.path.join(folder, d["seedname"])
    cfg["kmesh"]["size"] = [24, 24, 1]
    return cfg


def candidates() -> dict[str, dict]:
    out = {"hBN (QE+W90), E' mode": hbn_mode(),
           "Cd3As2 model, W90 files": os.path.join(EXAMPLES, "cd3as2_dft", "wanphonon.toml")}
    for delta0 in (-0.01, -0.02, -0.04):       # Cd3As2 model, semiconductor side, gap 2|Delta0|
        out[f"Cd3As2 continuum, Delta0 = {delta0} eV"] = {
            "model": {"name": "cd3as2_dirac", "delta0": delta0, "cell_volume": 200.0},
            "phonon": {"species": "Cd"}}
    return out


def table() -> str:
    """Run every candidate and return the table (moments per phonon quantum, in mu_N)."""
    lines = [f"{'system':<38}{'gap (eV)':>10}{'top. (mu_N)':>14}{'nontop. (mu_N)':>16}{'total (mu_N)':>14}"]
    for name, config in candidates().items():
        result = wanphonon.run(config)              # a Result: same fields as result.json
        m = result.moment or {}
        terms = m.get("terms", {})
        top = terms.get("topological", {}).get("nuclear_magneton")
        nt = terms.get("nontopological", {}).get("nuclear_magneton")
        lines.append(f"{name:<38}{result.min_direct_gap:>10.4f}{top:>14.4g}{nt:>16.4g}"
                     f"{m.get('nuclear_magneton'):>14.4g}")
    return "\n".join(lines)


def main() -> None:
    print(table())


if __name__ == "__main__":
    main()
