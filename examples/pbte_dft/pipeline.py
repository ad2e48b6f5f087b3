#!/usr/bin/env python3
"""First-principles pipeline for rocksalt PbTe and SnTe (GPAW + Wannier90, with spin-orbit).

One script for both materials (``--material PbTe|SnTe``).  For every structure (equilibrium and
frozen-phonon displacements) it

1. runs one GPAW SCF (plane waves, PBE, PAW setups of ``gpaw-data``, symmetry off: the full
   Gamma-centred k-grid, which contains the four L points);
2. measures the DFT gap at L without and with spin-orbit coupling (SOC: GPAW's non-self-consistent
   ``gpaw.spinorbit.soc_eigenstates`` on top of this SCF) and its sign (band inversion: the
   cation-p weight of the highest valence state at L);
3. writes two Wannier90 problems from the same SCF with GPAW's writer
   ``gpaw.wannier.wannier90.Wannier90`` (the older interface: it writes .amn, .mmn and .eig,
   and spinor overlaps from ``soc_eigenstates`` with ``spinors=True``):
   * ``soc``:   12 spinor Wannier functions (cation p + Te p, ``spinors = true``);
   * ``nosoc``: 6 spinless Wannier functions (cation p + Te p), spin degeneracy 2;
   and runs ``wannier90.x`` with identical settings and a fixed number of iterations;
4. for single-ion x displacements and eq: GPAW's Berry-phase polarization
   (``gpaw.berryphase.polarization_phase``) of the scalar-relativistic SCF, from which the Born
   charges of an independent DFT route follow (central differences).

Further steps: ``bands`` (fixed-density DFT bands of eq on a path through L, Gamma, X, W,
compared with the Wannier interpolation), ``born`` (Berry-phase Born charges on denser k-grids,
no Wannier90, for the k-convergence), ``ship`` (copies the small Wannier90 outputs, writes
summary.json, the wanphonon TOML files and dft_born_charges.json into the example folder).

Usage (from the repository root; PYTHONPATH must see ``wanphonon`` only for the ``bands`` and
``ship`` band checks)::

    python examples/pbte_dft/pipeline.py --material PbTe --workdir /tmp/pbte
    python examples/pbte_dft/pipeline.py --material SnTe --workdir /tmp/snte
    python examples/pbte_dft/pipeline.py --material PbTe --workdir /tmp/t --reduced --no-ship
    python examples/pbte_dft/pipeline.py --material PbTe --a 6.70 --workdir /tmp/a670 \
        --reduced --ship-dir examples/pbte_dft/sweep/a6.700      # lattice-constant sweep

Run serially with ``OMP_NUM_THREADS=1``; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------
MATERIALS = {
    # symbol of the cation, experimental lattice constant (A), folder of the shipped example
    "PbTe": {"cation": "Pb", "a": 6.462, "ship": "pbte_dft"},
    "SnTe": {"cation": "Sn", "a": 6.327, "ship": "snte_dft"},
}
FULL = {"nk": 4, "ecut": 350.0, "nbands": 24}          # production settings (shipped)
REDUCED = {"nk": 4, "ecut": 250.0, "nbands": 24}       # --reduced (tests, sweep)
DELTA = 0.01            # A, frozen-phonon displacement
WIDTH = 0.005           # eV, Fermi-Dirac width of the SCF (insulators; nocc = nvalence/2)
SCF_CONV = {"density": 1e-6, "eigenstates": 1e-8}
SOC_BASIS_CONV = 1e-5   # eigenstate residual (eV^2 per electron) of the extra bands of a larger SOC basis

# Wannier90 model: cation p + Te p.  Below it: cation d (5 bands), Te 5s, cation s (7 spinless
# bands, 14 spinors), excluded.  Above the 3 Te-p valence bands the cation-p conduction bands
# are entangled with higher states near Gamma, hence a disentanglement with a frozen window.
N_BELOW = 7             # spinless bands excluded below the model
N_OUT = 12              # spinless bands in the outer window (Te p, cation p and 6 more)
N_WANN = 6              # spinless WFs (cation p, Te p); spinor: 12
N_OCC = 3               # occupied model bands per spin (Te p)
FROZ_ABOVE_EF = 2.0     # eV: dis_froz_max = E_F(eq) + this (the same absolute number in every run)
DIS_NUM_ITER = 400
NUM_ITER = 0            # projection gauge after disentanglement: continuous across the runs
#                         (with 200 localisation steps one displaced run fell into another minimum)
DIS_CONV_TOL = 1e-30    # never reached: every run does exactly DIS_NUM_ITER + NUM_ITER iterations
CONV_TOL = 1e-30
PROJ_ORBITALS = [1, 2, 3]   # GPAW projector index of p_y, p_z, p_x (s, p_y, p_z, p_x, ...)
P_ORBITALS = [1, 2, 3]      # cation p: band character at L (inversion)
VALENCE = (2, 4)            # model valence of cation, Te (PAW valence minus the bands below)
MODELS = {  # --model: N_BELOW, N_OUT, N_WANN, N_OCC, PROJ_ORBITALS, projections, VALENCE
    "p": (7, 12, 6, 3, [1, 2, 3], "p", (2, 4)),
    "sp": (5, 14, 8, 5, [0, 1, 2, 3], "s;p", (4, 6)),   # cation s and Te 5s in the model too
}
PROJ_LABEL = "p"

SHIP_SUFFIXES = ["_hr.dat", "_centres.xyz", "_wsvec.dat", ".win", ".wout"]
STEPS = ["scf", "bands", "born", "ship"]


def seeds_for(cation: str, with_mode2: bool = False) -> dict:
    """seed -> {ion: displacement in units of DELTA} (ion 'mode': cation u, Te -(m_c/m_Te) u)."""
    s = {"eq": {}}
    for ion in (cation, "Te"):
        for ax, v in (("x", (1, 0, 0)), ("y", (0, 1, 0))):
            s[f"{ion}_{ax}p"] = {ion: tuple(v)}
            s[f"{ion}_{ax}m"] = {ion: tuple(-x for x in v)}
    if with_mode2:
        for ax, v in (("x", (1, 0, 0)), ("y", (0, 1, 0))):
            for tag, f in (("p", 1), ("m", -1), ("2p", 2), ("2m", -2)):
                s[f"mode_{ax}{tag}"] = {"mode": tuple(f * x for x in v)}
    return s


def atoms_for(material: str, a: float, disp: dict):
    from ase.build import bulk
    atoms = bulk(material, "rocksalt", a=a)       # primitive fcc cell
    # cation at reduced (1/8, 1/8, 1/8), Te at (5/8, 5/8, 5/8) (the Te site (a/2, a/2, a/2) from
    # the cation): no atom near a cell boundary.  With ASE's default (cation at 0, Te at
    # (a/2, 0, 0), reduced (-1/2, 1/2, 1/2)) small displacements wrap reduced coordinates through
    # 0, and the GPAW writer then gave runs with a broken Wannier function (spread 17 A^2 instead
    # of 3) whenever two coordinates wrapped.
    atoms.set_scaled_positions([[0.125] * 3, [0.625] * 3])
    pos = atoms.get_positions()
    m = atoms.get_masses()
    for ion, d in disp.items():
        d = DELTA * np.asarray(d, float)
        if ion == "mode":
            pos[0] += d
            pos[1] -= m[0] / m[1] * d
        else:
            pos[0 if ion != "Te" else 1] += d
    atoms.set_positions(pos)
    return atoms


# --------------------------------------------------------------------------------------
# GPAW
# --------------------------------------------------------------------------------------
def make_calc(st: dict, txt: str):
    from gpaw import GPAW, PW, FermiDirac
    nk = st["nk"]
    return GPAW(mode=PW(st["ecut"]), xc="PBE", kpts={"size": (nk, nk, nk), "gamma": True},
                symmetry="off", nbands=st["nbands"], occupations=FermiDirac(WIDTH),
                convergence={**SCF_CONV, "bands": N_BELOW + N_OUT + 1}, txt=txt)


def l_index(kpts) -> int:
    for i, k in enumerate(kpts):
        if np.allclose((np.asarray(k) - 0.5 + 1e-9) % 1.0, 1e-9, atol=1e-6):
            return i
    raise RuntimeError("the k-grid does not contain L = (1/2, 1/2, 1/2)")


def gaps_at_L(calc, soc_calc=None, soc_scale: float = 1.0) -> dict:
    """Direct gaps at L (eV) without and with SOC, signed: negative = inverted (cation-p weight of
    the highest valence state at L larger than that of the lowest conduction state).

    soc_calc: the calculator whose bands form the SOC basis (default ``calc``; see
    ``soc_basis``); soc_scale: factor on the SOC strength (1 = physical)."""
    from gpaw.spinorbit import soc_eigenstates
    nocc = int(round(calc.get_number_of_electrons())) // 2
    iL = l_index(calc.get_bz_k_points())
    e = calc.get_eigenvalues(kpt=iL)
    P = calc.wfs.kpt_u[iL].projections
    Pc = np.asarray(P[0])[:, P_ORBITALS] if 0 in P else None
    wc = np.sum(np.abs(Pc) ** 2, axis=1) if Pc is not None else None
    out = {"nocc_spinless": nocc}
    g = float(e[nocc] - e[nocc - 1])
    inv = bool(wc[nocc - 1] > wc[nocc])
    out["nosoc"] = {"gap_eV": g, "signed_gap_eV": -g if inv else g, "inverted": inv,
                    "cation_p_weight_vb_cb": [float(wc[nocc - 1]), float(wc[nocc])],
                    "vb_cb_eV": [float(e[nocc - 1]), float(e[nocc])]}
    t0 = time.perf_counter()
    soc = soc_eigenstates(soc_calc or calc, scale=soc_scale)
    es = soc.eigenvalues()[iL]
    Pm = soc[iL].P_amj[0]
    cols = [2 * i + s for i in P_ORBITALS for s in (0, 1)]
    w = np.sum(np.abs(np.asarray(Pm)[:, cols]) ** 2, axis=1)
    n = 2 * nocc
    vb = w[n - 2:n].mean()
    cb = w[n:n + 2].mean()
    g = float(es[n] - es[n - 1])
    inv = bool(vb > cb)
    out["soc"] = {"gap_eV": g, "signed_gap_eV": -g if inv else g, "inverted": inv,
                  "cation_p_weight_vb_cb": [float(vb), float(cb)],
                  "vb_cb_eV": [float(es[n - 1]), float(es[n])],
                  "soc_bands": int(es.size), "soc_scale": soc_scale,
                  "soc_time_s": time.perf_counter() - t0}
    return out


def soc_basis(calc, nbands: int, txt: str):
    """The calculator whose bands form the basis of the non-self-consistent SOC step.

    ``soc_eigenstates`` diagonalises H_SR + H_SOC in the space of the calculator's
    scalar-relativistic bands; PbTe's inversion at L converges only with ~160 of them
    (``soc_bands.py``).  Where ``nbands`` exceeds the SCF's bands, the extra bands come from a
    fixed-density run on the same k-grid (the SCF density and potential, no symmetry)."""
    if nbands <= calc.get_number_of_bands():
        return calc
    return calc.fixed_density(nbands=nbands, symmetry="off", txt=txt,
                              convergence={"bands": nbands - 4, "eigenstates": SOC_BASIS_CONV})


def berry_phase(calc) -> dict:
    from gpaw.berryphase import polarization_phase
    ph = polarization_phase(calc=calc)
    return {k: np.asarray(v).tolist() for k, v in ph.items()}


# --------------------------------------------------------------------------------------
# Wannier90
# --------------------------------------------------------------------------------------
def win_text(material: str, atoms, nk: int, spinor: bool, froz_max: float, kpts) -> str:
    cat = MATERIALS[material]["cation"]
    f = 2 if spinor else 1
    excl = ",".join(str(i + 1) for i in range(f * N_BELOW))
    # the k-points in GPAW's own BZ order: the writer puts .amn/.eig in that order and the
    # .mmn neighbours come from wannier90 -pp, which numbers the k-points as listed here
    kp = "\n".join(f"{k[0]:14.10f} {k[1]:14.10f} {k[2]:14.10f}" for k in kpts)
    assert len(kpts) == nk ** 3
    cell = "\n".join(" ".join(f"{x:16.10f}" for x in row) for row in atoms.cell[:])
    pos = "\n".join(f"{s} " + " ".join(f"{x:16.10f}" for x in p)
                    for s, p in zip(atoms.get_chemical_symbols(), atoms.get_positions()))
    return f"""! {material}, GPAW PBE {'+ SOC (non-self-consistent, soc_eigenstates)' if spinor else '(scalar-relativistic)'}
! generated by examples/pbte_dft/pipeline.py; .amn/.mmn/.eig from gpaw.wannier.wannier90
num_wann  = {f * N_WANN}
num_bands = {f * N_OUT}
exclude_bands : {excl}
spinors = {'true' if spinor else 'false'}

! frozen window: every band of the outer window below dis_froz_max (Te p valence and the
! cation-p conduction band near L); absolute GPAW energies, the same number in every run.
! The tolerances are never reached: every run does exactly dis_num_iter + num_iter iterations.
dis_froz_max = {froz_max:.6f}
dis_num_iter = {DIS_NUM_ITER}
dis_conv_tol = {DIS_CONV_TOL:.0e}
num_iter     = {NUM_ITER}
conv_tol     = {CONV_TOL:.0e}
num_print_cycles = 100

write_hr   = true
write_xyz  = true
translate_home_cell = false
use_ws_distance = true

begin unit_cell_cart
ang
{cell}
end unit_cell_cart

begin atoms_cart
ang
{pos}
end atoms_cart

begin projections
{cat}:{PROJ_LABEL}
Te:{PROJ_LABEL}
end projections

mp_grid = {nk} {nk} {nk}
begin kpoints
{kp}
end kpoints
"""


def run_w90(d: Path, seed: str, args: list[str], timings: dict, key: str) -> None:
    t0 = time.perf_counter()
    p = subprocess.run(["wannier90.x", *args, seed], cwd=d, capture_output=True, text=True)
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    if p.returncode != 0 or (d / f"{seed}.werr").exists():
        err = (d / f"{seed}.werr").read_text() if (d / f"{seed}.werr").exists() else p.stderr
        raise RuntimeError(f"wannier90.x {' '.join(args)} {seed} failed in {d}:\n{err}")


def _writer_class():
    """GPAW's Wannier90 writer with one fix for excluded bands.

    In gpaw 26.7 ``Wannier90.write_overlaps`` takes ``wavefunctions(k, bands)`` (already the
    selected bands for spinors, all bands below max(bands) without SOC) and ``get_overlap``
    indexes it with ``bands`` again: with excluded low bands the spinor case fails (IndexError).
    Here ``wavefunctions`` always returns the selected bands, and the overlap indexes only the
    PAW projections with ``bands`` (same formula as gpaw.ibz2bz._get_overlap)."""
    import gpaw.wannier.wannier90 as gw

    def get_overlap(bands, gd, ut1_nR, ut2_nR, proj1, proj2, dO_aii):
        n = len(bands)
        M_nn = (ut1_nR.reshape(n, -1).conj() @ ut2_nR.reshape(n, -1).T) * gd.dv
        for a in proj1.map:
            P1, P2 = proj1[a][bands], proj2[a][bands]
            if proj1.collinear:
                M_nn += P1.conj() @ dO_aii[a] @ P2.T
            else:
                for s in range(2):
                    M_nn += P1[:, s].conj() @ dO_aii[a] @ P2[:, s].T
        return M_nn

    gw.get_overlap = get_overlap

    class Writer(gw.Wannier90):
        def __init__(self, calc, *args, soc_scale: float = 1.0, **kw):
            super().__init__(calc, *args, **kw)
            if self.spinors and soc_scale != 1.0:
                from gpaw.spinorbit import soc_eigenstates
                self.soc = soc_eigenstates(calc, scale=soc_scale)

        def wavefunctions(self, bz_index, bands):
            u = super().wavefunctions(bz_index, bands)
            return u if self.spinors else u[list(bands)]

    return Writer


def wannierise(calc, material: str, atoms, nk: int, seed: str, d: Path, spinor: bool,
               froz_max: float, timings: dict, soc_scale: float = 1.0) -> dict:
    Wannier90 = _writer_class()
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{seed}.win").write_text(win_text(material, atoms, nk, spinor, froz_max,
                                             calc.get_bz_k_points()))
    tag = "soc" if spinor else "nosoc"
    run_w90(d, seed, ["-pp"], timings, f"wannier90 -pp {tag}")
    t0 = time.perf_counter()
    w = Wannier90(calc, seed=str(d / seed), bands=range(N_BELOW, N_BELOW + N_OUT),
                  orbitals_ai=[PROJ_ORBITALS, PROJ_ORBITALS], spinors=spinor, soc_scale=soc_scale)
    w.write_projections()
    w.write_eigenvalues()
    w.write_overlaps()
    timings[f"gpaw w90 writer {tag}"] = timings.get(f"gpaw w90 writer {tag}", 0.0) + \
        time.perf_counter() - t0
    run_w90(d, seed, [], timings, f"wannier90 {tag}")
    return parse_wout(d / f"{seed}.wout")


def parse_wout(path: Path) -> dict:
    text = path.read_text()
    final = text[text.rfind("Final State"):]
    cs = re.findall(r"WF centre and spread\s+\d+\s+\(\s*([-\d.]+),\s*([-\d.]+),\s*([-\d.]+)\s*\)"
                    r"\s+([-\d.]+)", final)
    omega = {k: float(re.search(rf"Omega {k}\s+=\s+([-\d.]+)", final).group(1))
             for k in ("I", "D", "OD", "Total")}
    version = re.search(r"Release:\s+([\d.]+)", text) or re.search(r"Version\s+([\d.]+)", text)
    return {"centres": [[float(c[i]) for i in range(3)] for c in cs],
            "spreads": [float(c[3]) for c in cs], "omega": omega,
            "wannier90_version": version.group(1) if version else None}


# --------------------------------------------------------------------------------------
# Bands check: Wannier interpolation against fixed-density DFT on a k-path
# --------------------------------------------------------------------------------------
KPATH = {"L": (0.5, 0.5, 0.5), "G": (0.0, 0.0, 0.0), "X": (0.5, 0.0, 0.5),
         "W": (0.5, 0.25, 0.75), "K": (0.375, 0.375, 0.75)}


def path_points(n: int = 6):
    pts, labels = [], []
    seq = ["L", "G", "X", "W", "L"]
    for a, b in zip(seq[:-1], seq[1:]):
        A, B = np.array(KPATH[a]), np.array(KPATH[b])
        for t in np.arange(n) / n:
            pts.append(A + t * (B - A))
            labels.append(a if t == 0 else "")
    pts.append(np.array(KPATH["L"]))
    labels.append("L")
    return np.array(pts), labels


def wannier_bands(seedpath: Path, kred: np.ndarray) -> np.ndarray:
    sys.path.insert(0, str(REPO))
    from wanphonon.io.seed import read_seed
    run = read_seed(str(seedpath))
    ph = np.exp(2j * np.pi * kred @ run.R.T)
    Hk = np.einsum("kr,rmn->kmn", ph, run.H_R)
    return np.linalg.eigvalsh(Hk)


def step_bands(calc, work: Path, st: dict, froz_max: float, soc_scale: float = 1.0) -> dict:
    from gpaw.spinorbit import soc_eigenstates
    kred, labels = path_points()
    t0 = time.perf_counter()
    nb = st["soc_nbands"]
    c = calc.fixed_density(kpts=kred, symmetry="off", nbands=nb, txt=str(work / "bands.txt"),
                           convergence={"bands": N_BELOW + N_OUT + 1 if nb == st["nbands"] else nb - 4})
    e0 = np.array([c.get_eigenvalues(kpt=i) for i in range(len(kred))])
    es = soc_eigenstates(c, scale=soc_scale).eigenvalues()
    out = {"path_reduced": kred.tolist(), "labels": labels, "time_s": time.perf_counter() - t0,
           "dis_froz_max_eV": froz_max}
    for tag, e_dft, f in (("nosoc", e0, 1), ("soc", es, 2)):
        ew = wannier_bands(work / "eq" / tag / "eq", kred)
        lo = f * N_BELOW
        ed = e_dft[:, lo:lo + f * N_WANN]
        frozen = ed < froz_max
        err = np.abs(ew - ed)
        n = f * N_OCC
        iL = 0
        out[tag] = {
            "max_abs_error_occupied_eV": float(err[:, :n].max()),
            "max_abs_error_frozen_eV": float(err[frozen].max()),
            "gap_L_dft_eV": float(ed[iL, n] - ed[iL, n - 1]),
            "gap_L_wannier_eV": float(ew[iL, n] - ew[iL, n - 1]),
            "dft_eigenvalues": ed.tolist(), "wannier_eigenvalues": ew.tolist()}
    return out


# --------------------------------------------------------------------------------------
# Berry-phase Born charges
# --------------------------------------------------------------------------------------
def born_from_phases(cell: np.ndarray, ph_p: list, ph_m: list) -> list:
    """Z_{v,x} (e, total: ions + electrons) from the polarization phases phi_c of +-DELTA along x:
    Z_v = sum_c cell[c, v] dphi_c / (2 pi 2 DELTA) (gpaw.borncharges.born_charges)."""
    d = np.asarray(ph_p) - np.asarray(ph_m)
    d -= np.round(d / (2 * np.pi)) * 2 * np.pi
    return (cell.T @ d / (2 * np.pi * 2 * DELTA)).tolist()


def step_born(material: str, a: float, nk_list: list[int], st: dict, work: Path,
              timings: dict) -> dict:
    """Berry-phase Born charges (no SOC) of both ions on several k-grids (x displacements)."""
    cat = MATERIALS[material]["cation"]
    res = {}
    for nk in nk_list:
        s2 = dict(st, nk=nk)
        d = work / f"born_nk{nk}"
        d.mkdir(parents=True, exist_ok=True)
        f = d / "born.json"
        if f.exists():
            res[nk] = json.loads(f.read_text())
            continue
        calc = make_calc(s2, str(d / "gpaw.txt"))
        phases, t0 = {}, time.perf_counter()
        for ion in (cat, "Te"):
            for sgn, tag in ((1, "p"), (-1, "m")):
                at = atoms_for(material, a, {ion: (sgn, 0, 0)})
                at.calc = calc
                at.get_potential_energy()
                phases[f"{ion}_x{tag}"] = berry_phase(calc)["phase_c"]
                print(f"    born nk={nk} {ion}_x{tag} {time.perf_counter() - t0:.0f} s", flush=True)
        cell = np.asarray(at.cell[:])
        Z = {ion: born_from_phases(cell, phases[f"{ion}_xp"], phases[f"{ion}_xm"])
             for ion in (cat, "Te")}
        r = {"nk": nk, "Z_vx": Z, "Z_xx": {k: v[0] for k, v in Z.items()},
             "sum_rule_xx": sum(v[0] for v in Z.values()), "phases": phases,
             "time_s": time.perf_counter() - t0}
        timings[f"born nk={nk}"] = r["time_s"]
        f.write_text(json.dumps(r, indent=1))
        res[nk] = r
    return res


# --------------------------------------------------------------------------------------
# Shipping
# --------------------------------------------------------------------------------------
def toml_text(material: str, seeds: list[str], spinor: bool, kmesh: int, sub: str) -> str:
    from ase.data import atomic_masses, atomic_numbers
    cat = MATERIALS[material]["cation"]
    mc, mt = (atomic_masses[atomic_numbers[s]] for s in (cat, "Te"))
    disp = []
    for s in seeds:
        if s == "eq":
            continue
        ion, rest = s.split("_")
        ax, sgn = rest[0], rest[1:]
        amp = {"p": 1, "m": -1, "2p": 2, "2m": -2}[sgn] * DELTA
        u = [amp, 0.0] if ax == "x" else [0.0, amp]
        block = f'[[displacement]]\nseedname = "wannier/{sub}/{s}"\nu = [{u[0]}, {u[1]}]\n'
        if ion != cat:
            block += f'ion = "{ion}"\n'
        disp.append(block)
    if spinor:
        el = (f"occupied_bands = {2 * N_OCC}        # the valence bands of the model, spinors (Kramers pairs)\n"
              "spin_degeneracy = 1       # spinor Wannier functions: spin is in the model")
    else:
        el = (f"occupied_bands = {N_OCC}        # valence bands of the model per spin\n"
              "spin_degeneracy = 2       # spinless model of a spin-degenerate system")
    return f"""# {material}, GPAW PBE {'+ SOC, 12 spinor' if spinor else 'without SOC, 6 spinless'} Wannier functions (cation p + Te p),
# made by examples/pbte_dft/pipeline.py (files in wannier/{sub}/).  The Gamma TO mode:
# cation u, Te -(m_{cat}/m_Te) u (centre of mass at rest), from single-ion runs at +-{DELTA} A.
[wannier]
seedname = "wannier/{sub}/eq"

{chr(10).join(disp)}
[electrons]
{el}

[kmesh]
size = [{kmesh}, {kmesh}, {kmesh}]

[phonon]
species = "{cat}"
pattern = {{ Te = {-mc / mt:.6f} }}   # -m_{cat}/m_Te (ASE masses {mc}, {mt})
# valence = PAW valence minus the electrons of the bands below the model, which are taken to
# move rigidly with their ion ({cat} 14 - 10 (d) - 2 (s) = 2, Te 6 - 2 (5s) = 4 for the p model)
valence = {{ {cat} = {VALENCE[0]}, Te = {VALENCE[1]} }}
"""


def toml_name(tag: str, suffix: str = "") -> str:
    """The configuration file of model ``tag`` ("soc" or "nosoc"; ``suffix`` "_sp": the s+p model)."""
    return ("wanphonon" if tag == "soc" else "wanphonon_nosoc") + suffix + ".toml"


def step_ship(material: str, work: Path, ship: Path, seeds: list[str], meta: dict,
              kmesh: int, suffix: str = "") -> None:
    for tag in ("soc", "nosoc"):
        if not all((work / s / tag / f"{s}_hr.dat").exists() for s in seeds):
            continue                                  # e.g. --no-soc
        dst = ship / "wannier" / (tag + suffix)
        dst.mkdir(parents=True, exist_ok=True)
        for s in seeds:
            for suf in SHIP_SUFFIXES:
                shutil.copy2(work / s / tag / f"{s}{suf}", dst / f"{s}{suf}")
        (ship / toml_name(tag, suffix)).write_text(toml_text(material, seeds, tag == "soc", kmesh, tag + suffix))
    (ship / f"summary{suffix}.json").write_text(json.dumps(meta, indent=1) + "\n")


def versions() -> dict:
    import ase
    import gpaw
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "wannier90"],
                       capture_output=True, text=True)
    return {"gpaw": gpaw.__version__, "ase": ase.__version__, "numpy": np.__version__,
            "python": platform.python_version(),
            "wannier90_debian_package": p.stdout.strip() or None,
            "gpaw_setups": "gpaw-data (PyPI), PBE PAW setups"}


# --------------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--material", choices=list(MATERIALS), required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--steps", default="scf,bands,born,ship")
    p.add_argument("--seeds", default="all", help="comma-separated subset (default: all)")
    p.add_argument("--a", type=float, default=None, help="lattice constant (A); default experimental")
    p.add_argument("--reduced", action="store_true",
                   help=f"reduced settings {REDUCED} instead of {FULL} (tests, sweep)")
    p.add_argument("--nk", type=int, default=None)
    p.add_argument("--ecut", type=float, default=None)
    p.add_argument("--nbands", type=int, default=None, help="bands of the SCF and of the SOC step")
    p.add_argument("--soc-nbands", type=int, default=None,
                   help="scalar-relativistic bands in the SOC basis (default: the SCF's); more "
                        "than the SCF's come from a fixed-density run (soc_basis)")
    p.add_argument("--soc-scale", type=float, default=1.0,
                   help="factor on the SOC strength (1 = physical; the path through the "
                        "inversion of sweep.py --path soc-scale)")
    p.add_argument("--no-soc", action="store_true", help="skip the spinor (SOC) Wannierisation")
    p.add_argument("--mode2", action="store_true", help="add whole-mode runs at +-1, +-2 delta")
    p.add_argument("--born-nk", default="", help="k-grids of the 'born' step, e.g. 6,8,10")
    p.add_argument("--kmesh", type=int, default=48, help="k-mesh written into the TOML files")
    p.add_argument("--ship-dir", type=Path, default=None)
    p.add_argument("--no-ship", action="store_true")
    p.add_argument("--reuse-gpw", action="store_true",
                   help="read <workdir>/<seed>/<seed>.gpw where present instead of running the SCF")
    p.add_argument("--clean", action="store_true", help="delete .amn/.mmn/.eig after each run")
    p.add_argument("--model", choices=list(MODELS), default="p",
                   help="p: cation p + Te p (shipped); sp: also cation s and Te 5s (diagnostic)")
    p.add_argument("--wannier-subdir", default="", help="suffix of the soc/nosoc run folders")
    args = p.parse_args(argv)

    global N_BELOW, N_OUT, N_WANN, N_OCC, PROJ_ORBITALS, PROJ_LABEL, VALENCE
    N_BELOW, N_OUT, N_WANN, N_OCC, PROJ_ORBITALS, PROJ_LABEL, VALENCE = MODELS[args.model]
    mat = MATERIALS[args.material]
    cat = mat["cation"]
    a = args.a if args.a is not None else mat["a"]
    st = dict(REDUCED if args.reduced else FULL)
    for k in ("nk", "ecut", "nbands"):
        if getattr(args, k) is not None:
            st[k] = getattr(args, k)
    st["soc_nbands"] = max(args.soc_nbands or st["nbands"], st["nbands"])
    if st["nk"] % 2:
        p.error("--nk must be even (the grid must contain L)")
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    all_seeds = seeds_for(cat, args.mode2)
    seeds = list(all_seeds) if args.seeds == "all" else args.seeds.split(",")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if shutil.which("wannier90.x") is None:
        p.error("wannier90.x not found (apt-get install wannier90)")
    ship = None if args.no_ship else (args.ship_dir or HERE.parent / mat["ship"])
    timings: dict = {}
    t_all = time.perf_counter()
    info_path = work / "runs.json"
    runs = json.loads(info_path.read_text()) if info_path.exists() else {}

    calc = None
    froz_max = runs.get("eq", {}).get("dis_froz_max_eV")
    if "scf" in steps:
        for s in sorted(seeds, key=lambda x: x != "eq"):
            atoms = atoms_for(args.material, a, all_seeds[s])
            t0 = time.perf_counter()
            gpw = work / s / f"{s}.gpw"
            if args.reuse_gpw and gpw.exists():
                from gpaw import GPAW
                calc = GPAW(str(gpw), txt=None)
                atoms = calc.get_atoms()
            else:
                if calc is None or args.reuse_gpw:
                    calc = make_calc(st, str(work / "gpaw.txt"))
                atoms.calc = calc
            etot = atoms.get_potential_energy()
            if not gpw.exists():
                gpw.parent.mkdir(parents=True, exist_ok=True)
                calc.write(str(gpw), mode="all")       # for --reuse-gpw (not shipped)
            # gpaw 26.7 caches the backwards-compatible ``calc.wfs`` (used by the Wannier90
            # writer and the Berry phase) per DFT object, and move_atoms keeps that object:
            # drop the cache, or the writer would see the previous structure's wave functions.
            if hasattr(calc, "_wfs_dft"):
                calc._wfs_dft = (None, None)
            r = {"displacement": {k: (DELTA * np.asarray(v)).tolist() for k, v in all_seeds[s].items()},
                 "positions_A": atoms.get_positions().tolist(), "energy_eV": etot,
                 "forces_eV_per_A": atoms.get_forces().tolist(),
                 "fermi_level_eV": calc.get_fermi_level(), "scf_s": time.perf_counter() - t0}
            if s == "eq":
                froz_max = r["fermi_level_eV"] + FROZ_ABOVE_EF
            r["dis_froz_max_eV"] = froz_max
            soc_calc = None
            if not args.no_soc:
                t1 = time.perf_counter()
                soc_calc = soc_basis(calc, st["soc_nbands"], str(work / s / "soc_basis.txt"))
                r["soc_basis_s"] = time.perf_counter() - t1
            r["gaps_L"] = gaps_at_L(calc, soc_calc, args.soc_scale)
            if s == "eq" or s.endswith(("_xp", "_xm")):
                t1 = time.perf_counter()
                r["berry_phase"] = berry_phase(calc)
                r["berry_s"] = time.perf_counter() - t1
            for tag, spinor in (("nosoc", False), ("soc", True)):
                if spinor and args.no_soc:
                    continue
                t1 = time.perf_counter()
                r[f"wannier_{tag}"] = wannierise(soc_calc if spinor else calc, args.material,
                                                 atoms, st["nk"], s, work / s / tag, spinor,
                                                 froz_max, timings, args.soc_scale)
                r[f"wannier_{tag}"]["time_s"] = time.perf_counter() - t1
                if args.clean:
                    for f in (work / s / tag).glob(f"{s}.[ame][mmi][nng]"):
                        f.unlink()                       # .amn .mmn .eig
            r["total_s"] = time.perf_counter() - t0
            runs[s] = r
            info_path.write_text(json.dumps(runs, indent=1))
            g = r["gaps_L"]
            print(f"[scf] {s}: {r['total_s']:.0f} s; gap at L nosoc {g['nosoc']['signed_gap_eV']:+.4f}"
                  f" soc {g['soc']['signed_gap_eV']:+.4f} eV; spreads nosoc "
                  f"{r['wannier_nosoc']['omega']['Total']:.3f}"
                  + (f" soc {r['wannier_soc']['omega']['Total']:.3f}" if "wannier_soc" in r else ""),
                  flush=True)

    bands = None
    if "bands" in steps:
        if calc is None or runs.get("eq") is None:
            raise SystemExit("the bands step needs the scf step of eq in the same call")
        atoms = atoms_for(args.material, a, {})
        atoms.calc = calc
        atoms.get_potential_energy()            # back to eq (cheap: converged density reused)
        if hasattr(calc, "_wfs_dft"):
            calc._wfs_dft = (None, None)
        bands = step_bands(calc, work, st, froz_max, args.soc_scale)
        (work / "bands_check.json").write_text(json.dumps(bands))
        for tag in ("nosoc", "soc"):
            b = bands[tag]
            print(f"[bands] {tag}: max|E_W-E_DFT| occupied {b['max_abs_error_occupied_eV'] * 1e3:.1f}"
                  f" meV, frozen {b['max_abs_error_frozen_eV'] * 1e3:.1f} meV; gap at L DFT "
                  f"{b['gap_L_dft_eV']:.4f} Wannier {b['gap_L_wannier_eV']:.4f} eV")
    elif (work / "bands_check.json").exists():
        bands = json.loads((work / "bands_check.json").read_text())

    born = {}
    if "born" in steps:
        nk_list = [int(x) for x in args.born_nk.split(",") if x.strip()]
        born = step_born(args.material, a, nk_list, st, work, timings)
    # Berry-phase Born charges on the Wannier k-grid from the scf runs themselves
    if all(f"{i}_x{t}" in runs and "berry_phase" in runs[f"{i}_x{t}"]
           for i in (cat, "Te") for t in "pm"):
        cell = np.asarray(atoms_for(args.material, a, {}).cell[:])
        Z = {i: born_from_phases(cell, runs[f"{i}_xp"]["berry_phase"]["phase_c"],
                                 runs[f"{i}_xm"]["berry_phase"]["phase_c"]) for i in (cat, "Te")}
        born[st["nk"]] = {"nk": st["nk"], "Z_vx": Z, "Z_xx": {k: v[0] for k, v in Z.items()},
                          "sum_rule_xx": sum(v[0] for v in Z.values()),
                          "source": "the scf runs of the Wannier step"}
    for nk, r in sorted(born.items()):
        print(f"[born] nk={nk}: Z_xx {r['Z_xx']}, sum {r['sum_rule_xx']:+.4f}")

    meta = {
        "description": f"{args.material}: GPAW + Wannier90 frozen-phonon runs for wanphonon, "
                       "made by examples/pbte_dft/pipeline.py",
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "versions": versions(),
        "structure": {"material": args.material, "lattice_constant_A": a,
                      "cell": "ASE bulk(rocksalt), primitive fcc, cation at reduced (1/8,1/8,1/8), Te at (5/8,5/8,5/8)",
                      "delta_A": DELTA},
        "dft_settings": {"mode": f"PW({st['ecut']} eV)", "xc": "PBE", "kpts": [st["nk"]] * 3,
                         "gamma_centred": True, "symmetry": "off", "nbands": st["nbands"],
                         "occupations": f"Fermi-Dirac {WIDTH} eV", "convergence": SCF_CONV,
                         "soc": "non-self-consistent, gpaw.spinorbit.soc_eigenstates on the "
                                "scalar-relativistic SCF, in the basis of soc_nbands bands "
                                "(2 soc_nbands spinors; beyond nbands from a fixed-density run)",
                         "soc_nbands": st["soc_nbands"], "soc_scale": args.soc_scale},
        "wannier_settings": {"model": args.model,
                             "projections": [f"{cat}:{PROJ_LABEL}", f"Te:{PROJ_LABEL}"],
                             "num_wann": {"soc": 2 * N_WANN, "nosoc": N_WANN},
                             "model_valence": {cat: VALENCE[0], "Te": VALENCE[1]},
                             "num_bands": {"soc": 2 * N_OUT, "nosoc": N_OUT},
                             "excluded_below": {"soc": 2 * N_BELOW, "nosoc": N_BELOW},
                             "dis_froz_max_eV": froz_max, "froz_above_eq_fermi_eV": FROZ_ABOVE_EF,
                             "dis_num_iter": DIS_NUM_ITER, "num_iter": NUM_ITER,
                             "amn": "GPAW PAW-projector overlaps of the cation and Te p projectors",
                             "spin_degeneracy": {"soc": 1, "nosoc": 2},
                             "occupied_bands": {"soc": 2 * N_OCC, "nosoc": N_OCC}},
        "runs": {s: {k: v for k, v in r.items() if k != "berry_phase"} | (
            {"berry_phase_c": r["berry_phase"]["phase_c"]} if "berry_phase" in r else {})
            for s, r in runs.items()},
        "bands_check_eq": ({t: {k: v for k, v in bands[t].items() if "eigenvalues" not in k}
                            for t in ("nosoc", "soc")} if bands else None),
        "berry_phase_born_charges": {str(k): {kk: vv for kk, vv in v.items() if kk != "phases"}
                                     for k, v in born.items()},
        "timings_s": timings, "wall_s_this_call": time.perf_counter() - t_all,
    }
    (work / "summary.json").write_text(json.dumps(meta, indent=1) + "\n")
    if "ship" in steps and ship is not None:
        step_ship(args.material, work, ship, [s for s in all_seeds if s in runs], meta, args.kmesh,
                  args.wannier_subdir)
        if born and not args.wannier_subdir:
            (ship / "dft_born_charges.json").write_text(json.dumps({
                "description": f"{args.material}: GPAW Berry-phase Born charges (no SOC), "
                               "gpaw.berryphase.polarization_phase, central differences "
                               f"+-{DELTA} A along x; Z includes the ionic (PAW valence) part",
                "versions": meta["versions"], "settings": meta["dft_settings"],
                "lattice_constant_A": a,
                "by_kgrid": {str(k): {kk: vv for kk, vv in v.items() if kk != "phases"}
                             for k, v in sorted(born.items())}}, indent=1) + "\n")
        if bands and not args.wannier_subdir:
            (ship / "bands_check.json").write_text(json.dumps(bands) + "\n")
        print(f"[ship] -> {ship}")
    print(f"total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
