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


# --- figures: units, labels, scales (the figures themselves were checked by eye) ---------------

MODELS = os.path.join(os.path.dirname(__file__), "..", "examples", "models")


@pytest.fixture
def figures(monkeypatch):
    """Keep every figure the plot functions save: ``{file name: figure}``."""
    from wanphonon.commands import plots
    kept = {}
    save = plots._save

    def keep(fig, path):
        kept[os.path.basename(path)] = fig
        return save(fig, path)               # savefig lays the figure out

    monkeypatch.setattr(plots, "_save", keep)
    return kept


def _labels(fig):
    return [ax.get_ylabel() for ax in fig.axes]


def test_spikes_switch_to_symlog_and_smooth_curves_do_not():
    from wanphonon.commands.plots import spiky
    x = np.linspace(-1, 1, 800)
    smooth = -190 * np.exp(-x ** 2 / 0.1)                          # a broad dip: linear axis
    assert spiky(x, [smooth, 0.2 * smooth, 0 * x]) is None
    spikes = 1.0 / (x ** 2 - 0.25)                                 # poles at +-1/2, bulk of order 1-4
    assert np.abs(spikes).max() > 300
    assert spiky(x, [spikes, 0 * x]) == 1.0


def test_run_plot_draws_path_and_gap_map_for_wannier90_input(tmp_path, figures):
    """`run --plot` on Wannier90 input: the lattice is known, so both lattice figures are drawn,
    integrands labelled dimensionless and per spin, energies relative to E_F with the gap."""
    import wanphonon
    from wanphonon.commands.plots import plots_for
    from wanphonon.config import load
    folder = os.path.abspath(os.path.dirname(HBN))
    text = open(HBN).read().replace('seedname = "wannier/', f'seedname = "{folder}/wannier/')
    (tmp_path / "hbn.toml").write_text(text.replace("size = [48, 48, 1]", "size = [12, 12, 1]"))
    cfg = load(str(tmp_path / "hbn.toml"))
    result = wanphonon.run(cfg)
    written = plots_for(cfg, result, str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == ["gap_map.png", "path_contributions.png"]
    fig = figures["path_contributions.png"]
    bands, terms, colorbar = fig.axes
    assert "E_F" in bands.get_ylabel() and "dimensionless" in terms.get_ylabel()
    assert "per spin" in terms.get_ylabel() and "per spin" in colorbar.get_ylabel()
    assert not any("AA" in label for label in _labels(fig))         # no A^2 on a pure number
    # one shared colour bar: the band and integrand panels keep the same width
    assert bands.get_position().width == pytest.approx(terms.get_position().width, rel=1e-6)
    legend = [t.get_text() for t in bands.get_legend().get_texts()]
    assert legend[0] == "gap 4.71 eV"                               # DFT direct gap at K: 4.709 eV
    # E_ref is the middle of the gap: the shaded gap sits symmetrically about zero
    gap_patch = list(bands.patches)[0]
    y0, y1 = gap_patch.get_y(), gap_patch.get_y() + gap_patch.get_height()
    assert y0 == pytest.approx(-y1, abs=1e-9) and y1 - y0 == pytest.approx(4.709, abs=2e-3)


def test_semimetal_per_kz_plot_uses_symlog_and_marks_the_cutoff(tmp_path, figures):
    import wanphonon
    from wanphonon.commands.plots import plots_for
    from wanphonon.config import load
    cfg = load(os.path.join(MODELS, "cd3as2_semimetal.toml"))
    result = wanphonon.run(cfg)
    plots_for(cfg, result, str(tmp_path))
    bands, per_kz = figures["kz_contributions.png"].axes
    assert per_kz.get_yscale() == "symlog" and "symlog" in per_kz.get_ylabel()
    assert "1/$\\AA^2$" in per_kz.get_ylabel()                      # chi_2D per slice: 1/A^2
    assert "E_F" in bands.get_ylabel()
    texts = [t.get_text() for t in per_kz.get_legend().get_texts()]
    assert any("removed" in t for t in texts)
    # the removed slices 2|Delta0 - Delta1 kz^2| <= E_p lie around the Dirac points sqrt(Delta0/Delta1)
    k_dirac = np.sqrt(0.0205 / 18.77)
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in per_kz.patches]
    assert any(a < k_dirac < b for a, b in spans) and any(a < -k_dirac < b for a, b in spans)


def test_semiconductor_per_kz_plot_stays_linear(tmp_path, figures):
    import wanphonon
    from wanphonon.commands.plots import plots_for
    from wanphonon.config import load
    cfg = load(os.path.join(MODELS, "cd3as2_semiconductor.toml"))
    plots_for(cfg, wanphonon.run(cfg), str(tmp_path))
    bands, per_kz = figures["kz_contributions.png"].axes
    assert per_kz.get_yscale() == "linear"
    gap = [t.get_text() for t in bands.get_legend().get_texts()][0]
    assert gap == "gap 41 meV"                                      # 2 |Delta0| = 41 meV
