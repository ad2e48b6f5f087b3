"""Per-k output ([output] k_resolved): the saved integrands reproduce the run's integrals, and a
kz plane of the 3D model equals the 2D slice model built separately at that kz."""

import json

import numpy as np
import pytest

import wanphonon
from wanphonon.engine.kresolved import load

A, C = 12.633, 25.427


def test_k_resolved_sums_and_kz_plane(tmp_path):
    cfg = {"model": {"name": "cd3as2_dirac_lattice", "a": A, "c": C},
           "kmesh": {"size": [16, 16, 8], "batch_size": 256}, "output": {"k_resolved": True}}
    result = wanphonon.run(cfg, out_dir=str(tmp_path))
    d = load(str(tmp_path / "k_resolved"))
    assert len(d["weight"]) == 16 * 16 * 8
    written = json.loads((tmp_path / "result.json").read_text())
    g = result.setting["spin_degeneracy"]
    for key in ("born_a", "born_b", "energy", "total"):
        assert g * np.sum(d["weight"] * d[key]) == pytest.approx(written["chi"][key], rel=1e-12, abs=1e-30)
    # the kz = 0 plane, as chi_2D: sum_plane w x * 2 pi / dkz, against the 2D slice model at kz = 0
    plane = np.abs(d["k_cart"][:, 2]) < 1e-12
    dkz = 2 * np.pi / (8 * C)
    chi_plane = np.sum(d["weight"][plane] * d["total"][plane]) * 2 * np.pi / dkz
    slice_2d = wanphonon.run({"model": {"name": "cd3as2_dirac_lattice", "a": A, "kz": 0.0},
                              "kmesh": {"size": [16, 16, 1]}})
    assert chi_plane == pytest.approx(slice_2d.chi["total"], rel=1e-10)
