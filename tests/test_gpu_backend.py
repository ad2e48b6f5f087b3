"""The torch backend ([run] device): the same numbers as numpy, on torch's CPU device here.

No GPU is needed: ``device = "cpu"`` runs the identical torch code path (Fourier sums,
eigh, projector chains on torch tensors) on the CPU.  The comparison is against the
numpy engine, an independent implementation of the linear algebra (LAPACK through
numpy vs torch; different eigenvector gauges), on models with degenerate bands, a 3D
lattice, a continuum model and Wannier input with moving centres and Born charges.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from wanphonon.api import compute, setup
from wanphonon.engine.device import torch_device
from wanphonon.errors import ConfigError

from test_parallel import cli, graphene, hbn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None,
                                 reason="torch is not installed (pip install 'wanphonon[gpu]')")

CONFIGS = {
    "graphene_lattice": {"model": {"name": "graphene_dirac_lattice", "delta": 0.3, "zeta": 0.5, "v": 1.0,
                                   "a": 1.0}, "kmesh": {"size": [24, 24, 1]}},
    "cd3as2_3d": {"model": {"name": "cd3as2_dirac_lattice", "a": 12.633, "c": 25.427},
                  "kmesh": {"size": [8, 8, 4]}},
    "graphene_continuum": {"model": {"name": "graphene_dirac", "delta": 0.3, "zeta": 0.5, "v": 1.0}},
    "adaptive": {"model": {"name": "graphene_dirac_lattice", "delta": 0.05, "zeta": 0.5, "v": 1.0,
                           "a": 1.0}, "kmesh": {"size": [8, 8, 1], "tolerance": 1e-3}},
}


def assert_close(a, b, rel=1e-10):
    scale = max(abs(v) for v in a.values.values())
    for key in a.values:
        assert abs(a.values[key] - b.values[key]) <= rel * scale, key
    za, zb = a.born_charge, b.born_charge
    assert np.all(np.abs(za - zb) <= rel * max(np.abs(za).max(), 1e-300))
    assert a.points == b.points and a.min_gap == pytest.approx(b.min_gap, rel=1e-12)


@needs_torch
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_torch_on_cpu_equals_numpy(name):
    calc = setup(CONFIGS[name])
    assert_close(compute(calc), compute(calc, device="cpu"))


@needs_torch
def test_torch_on_cpu_equals_numpy_for_wannier_input_with_moving_centres(tmp_path):
    calc = setup(hbn(tmp_path))
    ref = compute(calc)
    assert abs(ref.born_charge[0, 0]) > 0.01          # the centre-motion terms are exercised
    assert_close(ref, compute(calc, device="cpu"))


@needs_torch
def test_cli_device_flag_and_missing_gpu_is_a_clear_error(tmp_path):
    cfg = graphene(tmp_path, size=(12, 12, 1))
    proc = cli(cfg, "--out", str(tmp_path / "cpu"), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the missing-GPU error cannot be shown")
    proc = cli(cfg, "--out", str(tmp_path / "gpu"), "--device", "gpu")
    assert proc.returncode == 2
    assert "no CUDA device" in proc.stderr and "fix:" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)          # import torch -> ImportError
    with pytest.raises(ConfigError, match="needs PyTorch"):
        torch_device("gpu", "x.toml")
    with pytest.raises(ConfigError, match="not known"):
        torch_device("tpu", "x.toml")
    assert torch_device("numpy") is None and torch_device(None) is None
