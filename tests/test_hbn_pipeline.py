"""The whole first-principles chain on hBN, from scratch: QE pw.x -> Wannier90 -> wanphonon, judged by ph.x.

Runs examples/hbn_dft/pipeline.py for the equilibrium structure and B displaced by
+-0.01 A along x and y (5 pw.x + pw2wannier90 + wannier90 runs and one ph.x run, about
5 minutes on 2 cores), then wanphonon on the fresh Wannier90 files.  The judge is a number
no one here wrote: the Born effective charge of B from density-functional perturbation
theory (ph.x), against valence + int Tr Omega_ku from the Wannier model.

Needs Quantum ESPRESSO and Wannier90 (Debian: apt-get install quantum-espresso wannier90);
.ci/run installs them.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import wanphonon

HERE = os.path.dirname(__file__)
PIPELINE = os.path.join(HERE, "..", "examples", "hbn_dft", "pipeline.py")
SEEDS = {"B_xp": [0.01, 0.0], "B_xm": [-0.01, 0.0], "B_yp": [0.0, 0.01], "B_ym": [0.0, -0.01]}
TOOLS = ("pw.x", "pw2wannier90.x", "wannier90.x", "ph.x", "mpirun")

pytestmark = pytest.mark.slow


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                    reason="Quantum ESPRESSO / Wannier90 not installed "
                           "(apt-get install quantum-espresso wannier90)")
def test_hbn_from_scratch_born_charge_matches_ph_x(tmp_path):
    ship = tmp_path / "ship"
    cmd = [sys.executable, PIPELINE, "--workdir", str(tmp_path / "work"), "--ship-dir", str(ship),
           "--seeds", ",".join(["eq", *SEEDS]), "--steps", "wannier,ph,ship", "--clean"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    dft = json.loads((ship / "dft_born_charges.json").read_text())
    z_dft = dft["born_charge_B_inplane"]
    assert z_dft == pytest.approx(2.70, abs=0.05)           # ph.x itself is sane

    disp = "".join(f'[[displacement]]\nseedname = "wannier/{s}"\nu = {u}\n' for s, u in SEEDS.items())
    cfg = ship / "wanphonon.toml"
    cfg.write_text(f'[wannier]\nseedname = "wannier/eq"\n{disp}'
                   "[electrons]\noccupied_bands = 4\nspin_degeneracy = 2\n"
                   '[kmesh]\nsize = [36, 36, 1]\n[phonon]\nspecies = "B"\nvalence = 3\n')
    result = wanphonon.run(str(cfg))
    z = np.array(result.born_charge_total)
    assert z[0, 0] == pytest.approx(z_dft, rel=0.03)
    assert z[1, 1] == pytest.approx(z[0, 0], rel=1e-3)
    assert result.min_direct_gap == pytest.approx(4.71, abs=0.05)
