"""`wanphonon check CONFIG`: validation and summary without integrals."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "wanphonon.cli", *args], capture_output=True, text=True)


def test_check_reports_model_gauge_and_gap():
    proc = cli("check", os.path.join(EXAMPLES, "hbn_dft", "mode_Eprime.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["num_bands"] == 5 and report["occupied_bands"] == 4
    assert len(report["displacements"]) == 8
    alignment = report["details"]["gauge"]["runs"]
    assert set(alignment) == {f"{a}_{d}" for a in "BN" for d in ("xp", "xm", "yp", "ym")}
    assert all(0.1 < a["residual_before_per_A"] < 5 and not a["unitary_applied"] for a in alignment.values())
    assert report["details"]["gauge"]["exact"]
    # the direct gap of the 5-WF hBN model is at K or K' (reduced (1/3, 1/3) or (2/3, 2/3)
    # for this cell), 4.709 eV (DFT 4.709)
    gap = report["gap"]
    assert gap["min_direct_gap_eV"] == pytest.approx(4.709, abs=2e-3)
    lattice = np.array([[2.5, 0, 0], [-1.25, 2.5 * np.sqrt(3) / 2, 0], [0, 0, 10]])
    k_red = np.mod(lattice @ np.array(gap["at_k"]) / (2 * np.pi), 1.0)
    assert min(np.abs(k_red[:2] - 1 / 3).max(), np.abs(k_red[:2] - 2 / 3).max()) < 1e-6


def test_check_fails_like_run():
    proc = cli("check", os.path.join(EXAMPLES, "missing.toml"))
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr
