"""The command line contract: `wanphonon run CONFIG --out DIR` (result.json keys, errors)."""

import json
import math
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples", "models")


def wanphonon(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wanphonon.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return str(path)


def test_run_builtin_model_writes_result(tmp_path):
    out = tmp_path / "out"
    proc = wanphonon("run", os.path.join(EXAMPLES, "graphene.toml"), "--out", str(out), "--plot")
    assert proc.returncode == 0, proc.stderr
    assert "topological" in proc.stdout and "nontopological" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    assert set(result["chi"]) == {"born_a", "born_b", "born", "energy", "topological",
                                  "nontopological", "total"}
    # spin degeneracy 2 applied to the per-spin closed form sgn(D) z^2/(4 pi D^2)
    assert result["chi"]["topological"] == pytest.approx(2 * 0.25 / (4 * math.pi * 0.09), rel=1e-8)
    assert len(result["born_charge"]) == 3 and len(result["born_charge"][0]) == 2
    assert result["min_direct_gap"] == pytest.approx(0.6, rel=1e-6)
    assert result["provenance"]["wanphonon_version"]
    assert (out / "graphene_terms_vs_delta.png").stat().st_size > 1000
    assert not (out / "checkpoint").exists()


def test_result_is_not_overwritten_silently(tmp_path):
    cfg = os.path.join(EXAMPLES, "graphene.toml")
    assert wanphonon("run", cfg, "--out", str(tmp_path)).returncode == 0
    proc = wanphonon("run", cfg, "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "already there" in proc.stderr and "--overwrite" in proc.stderr
    assert wanphonon("run", cfg, "--out", str(tmp_path), "--overwrite").returncode == 0


def test_moment_in_magnetons_for_cd3as2(tmp_path):
    proc = wanphonon("run", os.path.join(EXAMPLES, "cd3as2_semiconductor.toml"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "result.json").read_text())
    d0, d1, zeta, vol = -0.0205, 18.77, 1.0, 200.0
    chi_total = 5 * zeta ** 2 / (80 * math.pi) / (d0 * math.sqrt(abs(d0 * d1)))
    assert r["chi"]["total"] == pytest.approx(chi_total, rel=1e-6)
    assert r["moment"]["ionic_magneton"] == pytest.approx(vol * chi_total, rel=1e-6)
    m_cd = 112.414
    assert r["moment"]["nuclear_magneton"] == pytest.approx(vol * chi_total * 1.007276 / m_cd, rel=1e-4)
    assert r["moment"]["bohr_magneton"] == pytest.approx(vol * chi_total * 5.48580e-4 / m_cd, rel=1e-4)


@pytest.mark.parametrize("text,expect", [
    ('[model]\nname = "graphene_dirac"\ndelta = 0.3\nzeta = [0.5\n', "line"),
    ('[model]\nname = "graphene_dirac"\ndelat = 0.3\n', "unknown key 'delat'"),
    ('[model]\nname = "graphene_diarc"\n', "unknown model name"),
    ('[model]\nname = "cd3as2_dirac"\ndelta0 = 0.0205\n', "gap"),
    ('[model]\nname = "graphene_dirac"\ndelta = 0.0\n', "closes the gap"),
    ('[model]\nname = "graphene_dirac"\n[electrons]\noccupied_bands = 4\n', "occupied_bands"),
    ('[model]\nname = "graphene_dirac"\n[electrons]\nspin_degeneracy = 3\n', "spin_degeneracy"),
])
def test_bad_input_gives_one_clear_message(tmp_path, text, expect):
    cfg = write(tmp_path / "bad.toml", text)
    proc = wanphonon("run", cfg, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert expect in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "fix:" in proc.stderr
    assert not (tmp_path / "out" / "result.json").exists()


def test_missing_config_file(tmp_path):
    proc = wanphonon("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "not found" in proc.stderr
