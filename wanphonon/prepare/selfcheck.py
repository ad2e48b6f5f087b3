"""Check the written files the way ``wanphonon run`` will: before anyone spends DFT time on them.

* ``wanphonon.toml`` validates (:func:`wanphonon.config.load`) and its pattern
  (:func:`wanphonon.frozen_phonon.mode.pattern_from_config`) equals the prepared one;
* every ``.win`` reads back (:func:`wanphonon.io.win.read_win`), and the checks of
  :mod:`wanphonon.frozen_phonon.consistency` pass between the equilibrium and every displaced run
  (same settings; the declared ions moved by the declared u);
* the ``.win`` files are identical apart from the ``atoms_cart`` block.
"""

from __future__ import annotations

import re

import numpy as np

from ..config import load
from ..frozen_phonon.consistency import check_displacement, check_settings
from ..errors import ModelMismatchError
from ..io.win import read_win
from ..frozen_phonon.mode import MODE_RUN, pattern_from_config

_ATOMS = re.compile(r"begin atoms_cart.*?end atoms_cart", re.S | re.I)


def verify(toml_path: str, pattern) -> dict:
    cfg = load(toml_path)
    phonon = cfg.phonon
    labels = [d.ion or phonon.representative for d in cfg.displacements]
    loaded = pattern_from_config(phonon, set(labels), toml_path)
    ours = pattern.phonon_pattern()
    for label, c in ours.matrices.items():
        if label not in loaded.matrices or np.abs(loaded.matrices[label] - c).max() > 1e-12:
            raise ModelMismatchError(f"the pattern read back for {label} differs from the prepared one",
                                     path=toml_path)
    weight = phonon.mode_weight
    if abs(weight - ours.mode_weight()) > 1e-12 * weight:
        raise ModelMismatchError("mode_weight read back differs from PhononPattern.mode_weight()",
                                 path=toml_path)
    eq_path = cfg.resolve(cfg.wannier.seedname) + ".win"
    eq = read_win(eq_path)
    with open(eq_path) as fh:
        eq_text = _ATOMS.sub("", fh.read())
    for d, label in zip(cfg.displacements, labels):
        path = cfg.resolve(d.seedname) + ".win"
        run = read_win(path)
        check_settings(eq, run)
        u = np.asarray(d.u, float)
        check_displacement(eq, run, loaded.moves(u) if label == MODE_RUN else {label: u})
        with open(path) as fh:
            if _ATOMS.sub("", fh.read()) != eq_text:
                raise ModelMismatchError("this .win differs from the equilibrium one outside atoms_cart",
                                         path=path)
    return {"config_valid": True, "runs_checked": len(cfg.displacements),
            "consistency_checks": ["check_settings", "check_displacement"],
            "win_identical_apart_from_atoms": True, "mode_weight_crosscheck": True}
