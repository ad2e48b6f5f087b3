"""`wanphonon prepare` writes .win files that keep the displaced runs' gauge continuous with the
equilibrium run (issue 11, docs/gauge.md): guiding centres, fixed iteration counts (and a
disentanglement tolerance that is never reached), no translate_home_cell; a user's own
values are kept."""

import os

from test_prepare import A_HBN, hbn_config, hbn_shells, hexagonal

from wanphonon.io.win import read_win
from wanphonon.prepare import prepare
from wanphonon.prepare.springs import spring_phonopy


def win_settings(tmp_path, **wannier):
    cfg = hbn_config(tmp_path)
    cfg["wannier"] = {k: v for k, v in {**cfg["wannier"], **wannier}.items() if v is not None}
    result = prepare(cfg, str(tmp_path / "out"), phonon=spring_phonopy(hexagonal("BN", A_HBN),
                                                                       hbn_shells()))
    wins = [read_win(os.path.join(result.out_dir, n, f"{n}.win")) for n in result.runs]
    assert all(w.settings == wins[0].settings for w in wins)          # identical in every run
    return wins[0].settings, result


def test_defaults_keep_the_gauge_continuous(tmp_path):
    s, _ = win_settings(tmp_path, num_iter=None, dis_num_iter=None)
    assert s["guiding_centres"] == "true" and s["translate_home_cell"] == "false"
    assert s["num_iter"] == "200" and s["dis_num_iter"] == "400"        # num_bands 12 > num_wann 5
    assert float(s["dis_conv_tol"]) == 1e-12
    assert "conv_window" not in s             # Wannier90 then always runs all num_iter iterations


def test_user_values_are_kept_with_a_note(tmp_path):
    s, result = win_settings(tmp_path, num_iter=50, guiding_centres=False)
    assert s["num_iter"] == "50" and s["guiding_centres"] == "false"
    assert any("guiding_centres = false" in n for n in result.warnings)
