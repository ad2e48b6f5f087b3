"""The set-up a DFT user relies on: spin degeneracy from the .win, the whole phonon moment,
valences of whole-mode runs, the per-ion Born charges of one engine pass, gap tolerance, and a
pre-flight ``check`` that refuses what ``run`` would refuse.

Expected numbers come from physics (closed forms of the bare ions' moment, the electron count,
per-ion runs against whole-mode runs) or from the hBN reference values of docs/tutorial.md
(ph.x: Z*_B = 2.707; wanphonon 2.680), never from the code's own output pasted back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import wanphonon
from wanphonon.errors import ConfigError, GapClosedError
from wanphonon.units import species_mass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HBN = os.path.join(ROOT, "examples", "hbn_dft")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def hbn_config(tmp_path, name="hbn.toml", source="wanphonon.toml", edit=lambda t: t, size=12):
    text = open(os.path.join(HBN, source)).read()
    text = text.replace('"wannier/', '"' + os.path.join(HBN, "wannier") + "/")
    text = re.sub(r"size = \[48, 48, 1\]", f"size = [{size}, {size}, 1]", text)
    path = tmp_path / name
    path.write_text(edit(text))
    return str(path)


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "wanphonon.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=timeout)


# --- spin degeneracy -------------------------------------------------------------------

def test_spin_degeneracy_defaults_to_the_win(tmp_path):
    """Spinless QE Wannier functions (no spinors in .win): g_s = 2 without being told, so
    Z*_B is the documented 2.680 (it was 2.84 with the old silent default of 1)."""
    explicit = wanphonon.run(hbn_config(tmp_path, "a.toml", size=24))
    implicit = wanphonon.run(hbn_config(tmp_path, "b.toml", size=24,
                                        edit=lambda t: t.replace("spin_degeneracy = 2\n", "")))
    assert implicit.setting["spin_degeneracy"] == 2 and "spinors" in implicit.setting["spin_source"]
    assert implicit.born_charge_total[0][0] == pytest.approx(2.680, abs=2e-3)
    assert implicit.chi == explicit.chi
    # B alone displaced, but mode_weight < 1: the moment is not the whole E' mode's, and it says so
    assert any("mode_weight = 0.5644 < 1" in w for w in implicit.warnings)


def test_spin_degeneracy_contradicting_spinors_is_refused(tmp_path):
    wannier = tmp_path / "wannier"
    wannier.mkdir()
    for f in os.listdir(os.path.join(HBN, "wannier")):
        if f.startswith(("eq", "B_")):
            text = open(os.path.join(HBN, "wannier", f), "rb").read()
            if f.endswith(".win"):
                text = text.replace(b"num_wann", b"spinors = true\nnum_wann", 1)
            (wannier / f).write_bytes(text)
    cfg = open(os.path.join(HBN, "wanphonon.toml")).read()
    (tmp_path / "w.toml").write_text(cfg)
    with pytest.raises(ConfigError, match="spin_degeneracy = 2 contradicts"):
        wanphonon.api.setup(str(tmp_path / "w.toml"))


def test_wrong_spin_degeneracy_is_caught_by_the_electron_count(tmp_path):
    """Valences of every atom: B 3 + N 5 = 8 electrons = g_s x 4 occupied bands only for g_s = 2."""
    def edit(t):
        t = t.replace("spin_degeneracy = 2", "spin_degeneracy = 1")
        return t.replace("valence = 3 ", "valence = { B = 3, N = 5 } ")
    with pytest.raises(ConfigError, match="add up to 8 electrons"):
        wanphonon.api.setup(hbn_config(tmp_path, edit=edit))


def test_no_win_needs_the_spin_degeneracy(tmp_path):
    from wanphonon.io.writers import displacement_tables, write_frozen_phonon_runs
    from helpers import random_tight_binding
    tb = random_tight_binding(3, 3, 1, gap=5.0, hop=0.3)
    runs = write_frozen_phonon_runs(str(tmp_path), tb, 1e-3)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[wannier]\nseedname = "eq"\n{displacement_tables(runs)}'
                   "[electrons]\noccupied_bands = 1\n[kmesh]\nsize = [8, 8, 1]\n")
    with pytest.raises(ConfigError, match="spin degeneracy cannot be read"):
        wanphonon.api.setup(str(cfg))
    cfg.write_text(cfg.read_text().replace("occupied_bands = 1\n", "occupied_bands = 1\nspin_degeneracy = 1\n"))
    calc = wanphonon.api.setup(str(cfg))
    assert any("no .win" in w for w in calc.warnings)


# --- the whole phonon moment -----------------------------------------------------------

def test_phonon_moment_adds_the_bare_ions(tmp_path):
    """hBN E' mode: the bare ions give w (Z_B + Z_N c^2) mu_I with c = -m_B/m_N (closed form);
    the phonon moment is that plus the electrons' total."""
    r = wanphonon.run(hbn_config(tmp_path, source="mode_Eprime.toml"))
    m_b, m_n = species_mass("B"), species_mass("N")
    c = -0.771828
    w = m_b / (m_b + m_n * c * c)
    ions = w * (3 + 5 * c * c)
    assert r.moment["ions"]["ionic_magneton"] == pytest.approx(ions, rel=1e-5)
    assert r.moment["phonon"]["ionic_magneton"] == pytest.approx(ions + r.moment["terms"]["total"]["ionic_magneton"],
                                                                 rel=1e-12)
    assert r.moment["phonon"]["nuclear_magneton"] == pytest.approx(
        r.moment["phonon"]["ionic_magneton"] * 1.007276 / m_b, rel=1e-5)
    assert "PHONON = ions + electrons" in r.table()
    d = r.to_dict()
    assert {"ions", "phonon", "terms", "point_charge_estimate"} <= set(d["moment"])


# --- one engine pass -------------------------------------------------------------------

def test_per_ion_born_charges_respect_the_adiabatic_cutoff(tmp_path):
    """With the cutoff, sum_kappa Z*_kappa C_kappa from the per-ion channels equals the mode's
    Z* of the same pass (it was 5.6065 vs 5.5585: per-ion passes ignored the cutoff)."""
    def edit(t):
        return t.replace("valence = { B = 3, N = 5 }",
                         "valence = { B = 3, N = 5 }\nphonon_energy_meV = 4800\nadiabatic_cutoff = true")
    r = wanphonon.run(hbn_config(tmp_path, source="mode_Eprime.toml", edit=edit, size=24))
    full = wanphonon.run(hbn_config(tmp_path, "full.toml", source="mode_Eprime.toml", size=24))
    assert r.adiabaticity["points_excluded"] > 0
    # the cutoff matters here, so per-ion charges without it could not add up to the mode's
    assert abs(r.born_charge_total[0][0] - full.born_charge_total[0][0]) > 1e-2
    c = np.array(r.phonon_pattern["N"])
    z = r.born_charge_per_ion
    combined = np.array(z["B"]["total"]) + np.array(z["N"]["total"]) @ c
    assert np.allclose(combined, r.born_charge_total, atol=1e-10)


def test_gap_tolerance_below_the_default_is_honoured():
    """delta = 2e-5 eV gives a gap of 4e-5 eV: refused at the default 1e-4, accepted at 1e-7."""
    model = {"name": "graphene_dirac_lattice", "delta": 2e-5, "zeta": 0.5, "v": 1.0, "a": 1.0}
    kmesh = {"size": [12, 12, 1]}          # contains Gamma, where the gap is 2 delta
    with pytest.raises(GapClosedError, match=r"k = \(0\.0+, 0\.0+, 0\.0+\) 1/A, below the tolerance 1\.0e-04"):
        wanphonon.run({"model": model, "kmesh": kmesh})
    r = wanphonon.run({"model": model, "kmesh": kmesh, "electrons": {"gap_tolerance": 1e-7}})
    assert r.min_direct_gap > 1e-7 and np.isfinite(r.chi["total"])


# --- check == run's validation ---------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("occupied_bands = 4 ", "occupied_bands = 3 "), "direct gap"),
    (lambda t: t.replace("occupied_bands = 4 ", "fermi_energy = -3.0 "), "not inside a gap"),
])
def test_check_refuses_what_run_refuses(tmp_path, edit, message):
    cfg = hbn_config(tmp_path, edit=edit)
    proc = cli("check", cfg)
    assert proc.returncode == 2 and proc.stdout.strip().splitlines()[-1].startswith("FAIL")
    assert message in proc.stdout
    run = cli("run", cfg, "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and message in run.stderr
    assert not (tmp_path / "out").exists()            # refused before anything was written
    js = json.loads(cli("check", cfg, "--json").stdout)
    assert js["verdict"] == "FAIL" and message in js["reason"]


def test_check_passes_the_example(tmp_path):
    proc = cli("check", hbn_config(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "PASS"


# --- job control and outputs ---------------------------------------------------------

def test_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path):
    import signal
    import time
    cfg = tmp_path / "g.toml"
    cfg.write_text('[model]\nname = "graphene_dirac_lattice"\ndelta = 0.3\nzeta = 0.5\nv = 1.0\na = 1.0\n'
                   "[kmesh]\nsize = [512, 512, 1]\nbatch_size = 64\n")    # ~10 s; no checkpoint before 120 s
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "wanphonon.cli", "run", str(cfg), "--out", str(out), "-q"],
                            env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.5)
    assert proc.poll() is None, "the run finished before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "--resume" in err and list((out / "checkpoint").glob("rank*.npz"))
    again = cli("run", str(cfg), "--out", str(out))               # forgetting --resume: refused
    assert again.returncode == 2 and "--resume" in again.stderr
    done = cli("run", str(cfg), "--out", str(out), "--resume", "-q")
    assert done.returncode == 0 and "result.json" in done.stdout, done.stderr
    ref = wanphonon.run(str(cfg))
    got = json.load(open(out / "result.json"))
    for k, v in ref.chi.items():
        assert got["chi"][k] == pytest.approx(v, rel=1e-12, abs=1e-15)
    summary = (out / "summary.txt").read_text()
    assert "PHONON" not in summary and "bare ions' contribution is not included" in summary


def test_round_off_is_printed_as_zero():
    """The graphene continuum model's Born charge vanishes exactly (theory.md 9.1)."""
    r = wanphonon.run({"model": {"name": "graphene_dirac", "delta": 0.3, "zeta": 0.5, "v": 1.0}})
    block = r.table().split("Born charge, electronic")[1].splitlines()[1:4]
    assert all(set(line.split()) == {"0"} for line in block)
