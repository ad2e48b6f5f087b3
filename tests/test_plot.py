"""`wanphonon plot`: k-path contributions and the gap map of a lattice system."""

import os
import subprocess
import sys

import numpy as np
import pytest

from wanphonon.api import setup
from wanphonon.commands.kpath import along_path

HBN = os.path.join(os.path.dirname(__file__), "..", "examples", "hbn_dft", "wanphonon.toml")


def test_path_finds_the_gap_at_k():
    calc = setup(HBN)
    data = along_path(calc.system, "GKMG", 121, n_occ=4)
    assert data.labels == ["Γ", "K", "M", "Γ"]
    gap = data.energies[:, 4] - data.energies[:, 3]
    i = int(np.argmin(gap))
    assert data.x[i] == pytest.approx(data.ticks[1])               # the minimum sits at K
    assert gap[i] == pytest.approx(4.709, abs=2e-3)                # DFT direct gap at K: 4.709 eV
    assert data.ticks[1] == pytest.approx(4 * np.pi / (3 * 2.5), rel=1e-9)   # |Gamma K| = 4 pi / 3a


def test_plot_command_writes_figures(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "wanphonon.cli", "plot", HBN, "--out", str(tmp_path),
                           "--npoints", "60"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("path_contributions.png", "gap_map.png"):
        assert (tmp_path / name).stat().st_size > 5000
