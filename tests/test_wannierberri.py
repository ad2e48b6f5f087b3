"""wanphonon's integrands through WannierBerri (``wanphonon.interfaces.wannierberri``).

``wannierberri.run`` with the SecondChernForm and BornCharge calculators on a
``System_R`` built from a wanphonon TightBinding must give the native engine's
chi terms and Born charges on the same grid.  Skipped without WannierBerri.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

wb = pytest.importorskip("wannierberri")
pytest.importorskip("numba")           # wannierberri.run imports it (grid/tetrahedron.py)

from helpers import random_tight_binding  # noqa: E402

from wanphonon.engine.grids import UniformGrid  # noqa: E402
from wanphonon.engine.integrate import Occupation, integrate  # noqa: E402
from wanphonon.geometry.integrands import SCALAR_INTEGRANDS  # noqa: E402
from wanphonon.interfaces.wannierberri import (  # noqa: E402
    DHDU_KEYS, BornCharge, SecondChernForm, born_charge, chi_terms, derivatives_from_data_k,
    integrate_tight_binding, system_from_tight_binding)

MESH = (24, 24, 1)


def native(tb, n_occ, mesh=MESH):
    return integrate(tb, UniformGrid(tb.lattice, mesh, batch_size=64), Occupation(n_occ))


def assert_agree(values, z, ref, rel=1e-8):
    for term in SCALAR_INTEGRANDS:
        assert values[term] == pytest.approx(ref.values[term], rel=rel, abs=0), term
    scale = np.abs(ref.born_charge).max()
    assert scale > 1e-3
    assert np.abs(z - ref.born_charge).max() <= rel * scale


@pytest.mark.parametrize("seed,n,n_occ,nkfft", [(0, 3, 1, (12, 12, 1)), (3, 4, 2, (24, 24, 1)),
                                               (5, 5, 2, (8, 6, 1))])
def test_wannierberri_route_matches_native_engine(tmp_path, seed, n, n_occ, nkfft):
    tb = random_tight_binding(seed=seed, n=n, n_occ=n_occ, moving_centres=False)
    ref = native(tb, n_occ)
    system = system_from_tight_binding(tb)
    grid = wb.Grid(system, NK=MESH, NKFFT=nkfft, use_symmetry=False)
    res = wb.run(system, grid,
                 calculators={"chern2": SecondChernForm(n_occ=n_occ),
                              "born_charge": BornCharge(n_occ=n_occ)},
                 parallel=False, use_irred_kpt=False, symmetrize=False,
                 fout_name=str(tmp_path / "wb"))
    values = chi_terms(res.results["chern2"])
    assert set(values) == set(SCALAR_INTEGRANDS)
    assert abs(values["total"] - values["born_a"] - values["born_b"] - values["energy"]) > 1e-6
    assert_agree(values, born_charge(res.results["born_charge"]), ref)


def test_moving_centres_and_fermi_energy():
    """Centre motion is diagonal in the orbitals, so it commutes with WannierBerri's
    convention-II frame: moving centres agree too; occupation by a Fermi energy."""
    tb = random_tight_binding(seed=1, n=3, n_occ=1, moving_centres=True)
    ref = native(tb, 1)
    grid = UniformGrid(tb.lattice, MESH)
    e = np.linalg.eigvalsh(tb.derivatives(np.concatenate(
        [grid.batch(b).k_cart for b in range(grid.n_batches)])).H)
    assert e[:, 0].max() < e[:, 1].min()                           # an indirect gap to sit in
    values, z = integrate_tight_binding(tb, MESH, nkfft=(12, 12, 1),
                                        fermi_energy=0.5 * (e[:, 0].max() + e[:, 1].min()))
    assert_agree(values, z, ref)


def test_data_k_matrices_are_convention_one_up_to_orbital_phases():
    """WannierBerri's Wannier-gauge H, d_k H, d_u H, d_k d_u H equal U X_I U^dag with
    U = diag(exp(i k.tau)) and X_I wanphonon's convention-I matrices."""
    from wannierberri.data_K import Data_K_R
    tb = random_tight_binding(seed=2, n=3, n_occ=1, moving_centres=False)
    system = system_from_tight_binding(tb)
    assert set(DHDU_KEYS) <= set(system._XX_R) and system.wanphonon_dimension == 2
    grid = wb.Grid(system, NK=(6, 4, 1), NKFFT=(3, 2, 1), use_symmetry=False)
    kp = grid.get_K_list(use_symmetry=False)[3]
    data_k = Data_K_R(system, dK=kp.Kp_fullBZ, grid=grid, Kpoint=kp)
    mine = derivatives_from_data_k(data_k)
    k_cart = data_k.kpoints_all @ system.recip_lattice
    ref = tb.derivatives(k_cart)
    u = np.exp(1j * k_cart @ tb.centres.T)                          # (nk, N)
    conj = u[:, :, None] * np.conj(u[:, None, :])                  # U X U^dag elementwise
    np.testing.assert_allclose(mine.H, conj * ref.H, atol=1e-12)
    np.testing.assert_allclose(mine.dk, conj * ref.dk, atol=1e-12)
    np.testing.assert_allclose(mine.du, conj * ref.du, atol=1e-12)
    np.testing.assert_allclose(mine.dkdu, conj * ref.dkdu, atol=1e-12)


def test_module_does_not_import_wannierberri():
    code = ("import sys, wanphonon.interfaces.wannierberri, wanphonon.cli; "
            "assert 'wannierberri' not in sys.modules")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr


def _docstring_example() -> str:
    import textwrap

    import wanphonon.interfaces.wannierberri as module
    doc = module.__doc__
    block = doc[doc.index("    import tempfile"):doc.index("**Units")]
    return textwrap.dedent(block)


def test_docstring_example_runs_and_leaves_no_files(tmp_path):
    """The module docstring's example, verbatim, from the repository root (its paths are
    relative to it): it runs, and WannierBerri's files go to a temporary folder."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    before = set(os.listdir(root))
    code = _docstring_example() + "\nprint(z_electronic[0, 0], z_electronic[1, 1])\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr
    assert set(os.listdir(root)) == before
    zxx, zyy = map(float, proc.stdout.split()[-2:])
    # B in hBN: Z* = 3 + Z_el = 2.701 from Quantum ESPRESSO ph.x (examples/hbn_dft/dft_born_charges.json)
    assert 3 + zxx == pytest.approx(2.701, abs=0.03)
    assert zyy == pytest.approx(zxx, abs=1e-4)                      # hexagonal: isotropic


def test_hbn_example_gives_the_native_born_charge_in_e(tmp_path, monkeypatch):
    """examples/wannierberri/hbn_born_charge.py: WannierBerri's per-spin integrals, times g_s
    and the cell area, are wanphonon's chi and Born charges (native engine, same mesh), and
    Z* of B is the DFPT value; files go only to the folder given."""
    import importlib.util

    import wanphonon
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "hbn_born_charge", os.path.join(root, "examples", "wannierberri", "hbn_born_charge.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.chdir(tmp_path)
    r = example.born_charge_with_wannierberri(mesh=12, out_dir=str(tmp_path / "wb"))
    assert os.listdir(tmp_path) == ["wb"] and os.listdir(tmp_path / "wb")

    text = open(example.HBN).read().replace('seedname = "wannier/',
                                           f'seedname = "{os.path.dirname(example.HBN)}/wannier/')
    (tmp_path / "hbn.toml").write_text(text.replace("size = [48, 48, 1]", "size = [12, 12, 1]"))
    ref = wanphonon.run(str(tmp_path / "hbn.toml"))
    for term in ("born_a", "born_b", "energy", "total"):
        assert r["chi"][term] == pytest.approx(ref.chi[term], rel=1e-8), term
    np.testing.assert_allclose(r["born_charge"], ref.born_charge, atol=1e-8)
    assert r["born_charge_total"][0, 0] == pytest.approx(2.701, abs=0.03)     # ph.x: 2.701
