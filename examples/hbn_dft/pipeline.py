#!/usr/bin/env python3
"""First-principles data pipeline for monolayer hexagonal boron nitride (hBN).

This script regenerates every first-principles file shipped in ``examples/hbn_dft``:

1. ``wannier`` step -- for each structure (equilibrium plus finite displacements of B and N)
   a Quantum ESPRESSO ``pw.x`` SCF run with symmetry switched off on the full Monkhorst-Pack
   grid (so no separate NSCF run is needed), ``pw2wannier90.x`` and ``wannier90.x``.
   All runs use identical cutoffs, k-mesh, number of bands, projections, windows and
   iteration settings, so the Wannier gauges of the displaced models follow the
   equilibrium one continuously (checked by the ``ship`` step).
2. ``bands`` step -- a DFT band structure of the equilibrium structure along
   Gamma-M-K-Gamma, compared with the band structure interpolated from ``eq_hr.dat``.
3. ``ph`` step -- ``ph.x`` at Gamma with ``epsil = .true.``: Born effective charges, the
   dielectric tensor and the Gamma phonons (stored in ``dft_born_charges.json``).
4. ``ship`` step -- copies the small Wannier90 products (``_hr.dat``, ``_centres.xyz``,
   ``_wsvec.dat``, ``_tb.dat``, ``.win``, ``.wout``) into ``<ship-dir>/wannier/`` and writes
   ``<ship-dir>/wannier/summary.json`` (structures, displacements, forces, spreads,
   centres, band-interpolation errors, gauge-consistency numbers, timings).

Usage::

    python examples/hbn_dft/pipeline.py --workdir /tmp/hbn            # everything
    python examples/hbn_dft/pipeline.py --workdir /tmp/hbn --skip-ph  # no ph.x
    python examples/hbn_dft/pipeline.py --workdir /tmp/hbn --seeds eq,B_xp,B_xm --steps wannier,ship
    python examples/hbn_dft/pipeline.py --workdir /tmp/hbn --no-ship  # leave the repository alone

Requirements (Debian 12): ``apt-get install -y quantum-espresso wannier90`` (QE 6.7,
Wannier90 3.1.0, Open MPI; the pseudopotentials come with the ``quantum-espresso-data``
package in ``/usr/share/espresso/pseudo``) and numpy.

Conventions: lattice a1 = a(1, 0, 0), a2 = a(-1/2, sqrt(3)/2, 0), a3 = (0, 0, c);
B at (0, 0, 0), N at (1/3, 2/3, 0) in reduced coordinates = (0, a/sqrt(3), 0) Cartesian
(the B-N bond along +y).  Energies in eV, lengths in Angstrom.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------
# Physical and numerical settings (identical for every run)
# --------------------------------------------------------------------------------------
A_LAT = 2.50  # in-plane lattice constant (Angstrom)
C_LAT = 10.0  # cell height (Angstrom); 10 A of vacuum between the layers
DELTA = 0.01  # finite displacement (Angstrom)

PSEUDO_DIR = "/usr/share/espresso/pseudo"
SPECIES = {  # symbol: (mass in amu, pseudopotential, valence charge)
    "B": (10.811, "B.pbe-n-kjpaw_psl.1.0.0.UPF", 3.0),
    "N": (14.007, "N.pbe-n-kjpaw_psl.1.0.0.UPF", 5.0),
}
ECUTWFC = 45.0  # Ry (pseudopotentials suggest >= 44 Ry)
ECUTRHO = 360.0  # Ry (suggested >= 325 Ry)
CONV_THR = 1.0e-10  # Ry
NBND = 12  # bands computed by pw.x and passed to Wannier90 (num_bands)
NK_DEFAULT = 9  # in-plane Monkhorst-Pack grid NK x NK x 1 (Gamma-centred, contains K)

# Wannier90 model: 5 WFs.  Three N-centred sp2 hybrids pointing at the three B neighbours
# (they span the N s, px, py -- the three occupied sigma bands), N pz (occupied pi) and
# B pz (the pi* conduction band).  The occupied manifold (4 bands) is entirely inside the
# frozen window; disentanglement selects the pi* band from the 8 bands above it.
NUM_WANN = 5
NUM_OCC = 4
PROJECTIONS = ["N:sp2:x=0,-1,0", "N:pz", "B:pz"]
WF_LABELS = ["N sp2 lobe towards the B neighbour at 30 deg (+x+y)",
             "N sp2 lobe towards the B neighbour at 150 deg (-x+y)",
             "N sp2 lobe towards the B neighbour at 270 deg (-y; the B in the home cell)",
             "N pz", "B pz"]
DIS_FROZ_MAX = 2.0  # eV (absolute pw.x energies); above the VBM (-2.28), below the
#                     nearly-free-electron state at Gamma (2.25) that is not in the model
NUM_ITER = 200
DIS_NUM_ITER = 400
CONV_TOL = 1.0e-10
DIS_CONV_TOL = 1.0e-12  # not reached on purpose: every run does exactly DIS_NUM_ITER iterations

ATOMS = ["B", "N"]
ATOM_INDEX = {"B": 0, "N": 1}

# seed name -> (displaced atom, Cartesian displacement in units of DELTA)
SEEDS: dict[str, tuple[str | None, tuple[float, float, float]]] = {
    "eq": (None, (0.0, 0.0, 0.0)),
    "B_xp": ("B", (1.0, 0.0, 0.0)),
    "B_xm": ("B", (-1.0, 0.0, 0.0)),
    "B_yp": ("B", (0.0, 1.0, 0.0)),
    "B_ym": ("B", (0.0, -1.0, 0.0)),
    "B_x2p": ("B", (2.0, 0.0, 0.0)),
    "B_x2m": ("B", (-2.0, 0.0, 0.0)),
    "B_y2p": ("B", (0.0, 2.0, 0.0)),
    "B_y2m": ("B", (0.0, -2.0, 0.0)),
    "N_xp": ("N", (1.0, 0.0, 0.0)),
    "N_xm": ("N", (-1.0, 0.0, 0.0)),
    "N_yp": ("N", (0.0, 1.0, 0.0)),
    "N_ym": ("N", (0.0, -1.0, 0.0)),
}

SHIP_SUFFIXES = ["_hr.dat", "_centres.xyz", "_wsvec.dat", "_tb.dat", ".win", ".wout"]
STEPS = ["wannier", "bands", "ph", "ship"]

HARTREE_EV = 27.211386245988
RY_TO_CM1 = 109737.31568160
BOHR_ANG = 0.529177210903


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------
def cell() -> np.ndarray:
    """Rows are the lattice vectors (Angstrom)."""
    return np.array([[A_LAT, 0.0, 0.0],
                     [-A_LAT / 2.0, A_LAT * math.sqrt(3.0) / 2.0, 0.0],
                     [0.0, 0.0, C_LAT]])


def positions(seed: str) -> np.ndarray:
    """Cartesian positions (Angstrom) of B and N for a seed."""
    frac = np.array([[0.0, 0.0, 0.0], [1.0 / 3.0, 2.0 / 3.0, 0.0]])
    pos = frac @ cell()
    atom, disp = SEEDS[seed]
    if atom is not None:
        pos[ATOM_INDEX[atom]] += DELTA * np.asarray(disp)
    return pos


def mp_grid(nk: int) -> list[tuple[float, float, float]]:
    """Full nk x nk x 1 grid in reduced coordinates, Wannier90 (kmesh.pl) order."""
    return [(i / nk, j / nk, 0.0) for i in range(nk) for j in range(nk)]


def bands_path(n_gm: int = 18, n_mk: int = 9, n_kg: int = 18) -> tuple[np.ndarray, dict]:
    """Gamma-M-K-Gamma in reduced coordinates (K = (1/3, 1/3) for this 120-degree cell)."""
    G, M, K = np.zeros(3), np.array([0.5, 0.0, 0.0]), np.array([1 / 3, 1 / 3, 0.0])
    pts, labels = [], {}
    for start, stop, n, lab in [(G, M, n_gm, "G"), (M, K, n_mk, "M"), (K, G, n_kg, "K")]:
        labels[lab] = len(pts)
        for t in np.arange(n) / n:
            pts.append(start + t * (stop - start))
    labels["G'"] = len(pts)
    pts.append(G)
    return np.array(pts), labels


# --------------------------------------------------------------------------------------
# Running external programs
# --------------------------------------------------------------------------------------
class Runner:
    def __init__(self, nproc: int, verbose: bool = True):
        self.nproc = nproc
        self.verbose = verbose
        self.env = dict(os.environ)
        self.env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                         "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                         "OMPI_MCA_rmaps_base_oversubscribe": "1"})
        self.timings: dict[str, float] = {}

    def mpi(self, exe: str, *args: str, pools: bool = False) -> list[str]:
        cmd = [exe, *args]
        if pools and self.nproc > 1:
            cmd += ["-nk", str(self.nproc)]
        if self.nproc > 1:
            cmd = ["mpirun", "-np", str(self.nproc)] + cmd
        return cmd

    def run(self, cmd: list[str], cwd: Path, stdin: str | None, log: str, key: str) -> float:
        t0 = time.perf_counter()
        with open(cwd / log, "w") as out:
            fin = open(cwd / stdin) if stdin else subprocess.DEVNULL
            try:
                proc = subprocess.run(cmd, cwd=cwd, stdin=fin, stdout=out,
                                      stderr=subprocess.STDOUT, env=self.env)
            finally:
                if stdin:
                    fin.close()
        dt = time.perf_counter() - t0
        self.timings[key] = self.timings.get(key, 0.0) + dt
        if proc.returncode != 0:
            tail = (cwd / log).read_text().splitlines()[-25:]
            raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (rc={proc.returncode}):\n"
                               + "\n".join(tail))
        if self.verbose:
            print(f"    {key:<28s} {dt:7.1f} s", flush=True)
        return dt


# --------------------------------------------------------------------------------------
# Input writers
# --------------------------------------------------------------------------------------
def pw_input(prefix: str, pos: np.ndarray, calculation: str, kpoints: str,
             nbnd: int | None, nosym: bool) -> str:
    sysopts = [f"  ecutwfc = {ECUTWFC}", f"  ecutrho = {ECUTRHO}", "  occupations = 'fixed'"]
    if nbnd is not None:
        sysopts.append(f"  nbnd = {nbnd}")
    if nosym:
        sysopts.append("  nosym = .true.\n  noinv = .true.")
    lines = [
        "&control",
        f"  calculation = '{calculation}'",
        f"  prefix = '{prefix}'",
        "  outdir = './out'",
        f"  pseudo_dir = '{PSEUDO_DIR}'",
        "  tprnfor = .true.",
        "/",
        "&system",
        "  ibrav = 0",
        "  nat = 2",
        "  ntyp = 2",
        *sysopts,
        "/",
        "&electrons",
        f"  conv_thr = {CONV_THR:.1e}",
        "  diago_full_acc = .true.",
        "/",
        "ATOMIC_SPECIES",
        *[f"{s} {SPECIES[s][0]} {SPECIES[s][1]}" for s in ATOMS],
        "CELL_PARAMETERS angstrom",
        *[" ".join(f"{x:20.14f}" for x in row) for row in cell()],
        "ATOMIC_POSITIONS angstrom",
        *[f"{s} " + " ".join(f"{x:20.14f}" for x in p) for s, p in zip(ATOMS, pos)],
        kpoints,
    ]
    return "\n".join(lines) + "\n"


def kpoints_crystal(kpts) -> str:
    kpts = np.asarray(kpts, dtype=float)
    w = 1.0 / len(kpts)
    body = "\n".join(f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f} {w:.12e}" for k in kpts)
    return f"K_POINTS crystal\n{len(kpts)}\n{body}"


def win_input(pos: np.ndarray, nk: int) -> str:
    kp = "\n".join(f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f}" for k in mp_grid(nk))
    return f"""! Monolayer hBN, PBE, QE 6.7 + Wannier90 3.1 (generated by examples/hbn_dft/pipeline.py)
num_wann  = {NUM_WANN}
num_bands = {NBND}

! disentanglement: the 4 occupied bands are frozen; the outer window is all {NBND} bands.
! dis_conv_tol is deliberately tight and conv_window is unset, so every run performs exactly
! dis_num_iter + num_iter iterations (Omega_I is converged to ~1e-7 A^2, the spread to ~1e-13 A^2)
dis_froz_max = {DIS_FROZ_MAX}
dis_num_iter = {DIS_NUM_ITER}
dis_conv_tol = {DIS_CONV_TOL:.0e}
num_iter     = {NUM_ITER}
conv_tol     = {CONV_TOL:.0e}
num_print_cycles = 50

! 2D slab: in-plane b-vectors only
shell_list    = 1
skip_B1_tests = true

write_hr   = true
write_tb   = true
write_xyz  = true
translate_home_cell = false
use_ws_distance = true

begin unit_cell_cart
ang
{chr(10).join(" ".join(f"{x:20.14f}" for x in row) for row in cell())}
end unit_cell_cart

begin atoms_cart
ang
{chr(10).join(f"{s} " + " ".join(f"{x:20.14f}" for x in p) for s, p in zip(ATOMS, pos))}
end atoms_cart

begin projections
{chr(10).join(PROJECTIONS)}
end projections

mp_grid = {nk} {nk} 1
begin kpoints
{kp}
end kpoints
"""


def pw2wan_input(seed: str) -> str:
    return (f"&inputpp\n  outdir = './out'\n  prefix = '{seed}'\n  seedname = '{seed}'\n"
            "  write_mmn = .true.\n  write_amn = .true.\n  write_unk = .false.\n/\n")


# --------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------
def read_qe_xml(path: Path) -> dict:
    """Eigenvalues (eV), k-points (reduced), forces (eV/A), total energy (eV) from QE XML."""
    root = ET.parse(path).getroot()
    out = root.find("output")
    b = np.array([[float(x) for x in out.find(f"basis_set/reciprocal_lattice/b{i}").text.split()]
                  for i in (1, 2, 3)])
    ks, eigs = [], []
    for kse in out.iter("ks_energies"):
        kc = np.array([float(x) for x in kse.find("k_point").text.split()])
        ks.append(np.linalg.solve(b.T, kc))
        eigs.append([float(x) * HARTREE_EV for x in kse.find("eigenvalues").text.split()])
    res = {"k_reduced": np.array(ks), "eigenvalues": np.array(eigs),
           "etot": float(out.find("total_energy/etot").text) * HARTREE_EV}
    f = out.find("forces")
    if f is not None:
        res["forces"] = (np.array([float(x) for x in f.text.split()]).reshape(-1, 3)
                         * HARTREE_EV / BOHR_ANG)
    return res


def parse_wout(path: Path) -> dict:
    text = path.read_text()
    final = text[text.rfind("Final State"):]
    centres, spreads = [], []
    for m in re.finditer(r"WF centre and spread\s+\d+\s+\(\s*([-\d.]+),\s*([-\d.]+),\s*([-\d.]+)\s*\)"
                         r"\s+([-\d.]+)", final):
        centres.append([float(m.group(i)) for i in (1, 2, 3)])
        spreads.append(float(m.group(4)))
    omega = {k: float(re.search(rf"Omega {k}\s+=\s+([-\d.]+)", final).group(1))
             for k in ("I", "D", "OD", "Total")}
    dis = re.findall(r"^\s*(\d+)\s+[-\d.E+]+\s+[-\d.E+]+\s+[-\d.E+]+\s+[-\d.E+]+\s+<-- DIS", text, re.M)
    wann = re.findall(r"^\s*(\d+)\s+[-\d.E+]+\s+[-\d.E+]+\s+[-\d.E+]+\s+[-\d.E+]+\s+<-- CONV", text, re.M)
    version = re.search(r"Release:\s+([\d.]+)", text)
    return {"centres": centres[:NUM_WANN], "spreads": spreads[:NUM_WANN], "omega": omega,
            "dis_iterations": int(dis[-1]) if dis else None,
            "wannierise_iterations": int(wann[-1]) if wann else None,
            "version": version.group(1) if version else None}


def read_hr(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (R[nR,3] int, ndegen[nR], H[nR,nw,nw]) from a Wannier90 _hr.dat, H[R][m,n] = <m0|H|nR>."""
    lines = path.read_text().splitlines()
    nw, nr = int(lines[1]), int(lines[2])
    ndeg, i = [], 3
    while len(ndeg) < nr:
        ndeg += [int(x) for x in lines[i].split()]
        i += 1
    data = np.array([ln.split() for ln in lines[i:i + nr * nw * nw]], dtype=float)
    R = data[::nw * nw, :3].astype(int)
    H = np.zeros((nr, nw, nw), complex)
    m = data[:, 3].astype(int) - 1
    n = data[:, 4].astype(int) - 1
    ir = np.repeat(np.arange(nr), nw * nw)
    H[ir, m, n] = data[:, 5] + 1j * data[:, 6]
    return R, np.array(ndeg), H


def read_wsvec(path: Path, R: np.ndarray, nw: int) -> dict:
    """{(iR, m, n): array of extra lattice shifts T} from a Wannier90 _wsvec.dat."""
    index = {tuple(r): i for i, r in enumerate(R)}
    lines = path.read_text().splitlines()[1:]
    shifts, i = {}, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        r1, r2, r3, m, n = (int(x) for x in lines[i].split())
        nd = int(lines[i + 1])
        T = np.array([[int(x) for x in lines[i + 2 + j].split()] for j in range(nd)])
        shifts[(index[(r1, r2, r3)], m - 1, n - 1)] = T
        i += 2 + nd
    return shifts


def tb_hamiltonian(R, ndeg, H, shifts, kred: np.ndarray) -> np.ndarray:
    """H(k) at reduced k-points (nk,3) with Wannier90's use_ws_distance convention."""
    nr, nw, _ = H.shape
    Hk = np.zeros((len(kred), nw, nw), complex)
    for ir in range(nr):
        for m in range(nw):
            for n in range(nw):
                T = shifts.get((ir, m, n), np.zeros((1, 3), int)) if shifts else np.zeros((1, 3), int)
                ph = np.exp(2j * np.pi * (kred @ (R[ir] + T).T)).mean(axis=1)
                Hk[:, m, n] += H[ir, m, n] / ndeg[ir] * ph
    return Hk


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------
def step_wannier(seed: str, work: Path, nk: int, runner: Runner) -> dict:
    d = work / seed
    d.mkdir(parents=True, exist_ok=True)
    pos = positions(seed)
    (d / "scf.in").write_text(pw_input(seed, pos, "scf", kpoints_crystal(mp_grid(nk)), NBND, True))
    (d / f"{seed}.win").write_text(win_input(pos, nk))
    (d / "pw2wan.in").write_text(pw2wan_input(seed))
    runner.run(runner.mpi("pw.x", pools=True), d, "scf.in", "scf.out", f"{seed}: pw.x scf")
    runner.run(["wannier90.x", "-pp", seed], d, None, "w90pp.log", f"{seed}: wannier90 -pp")
    runner.run(runner.mpi("pw2wannier90.x"), d, "pw2wan.in", "pw2wan.out", f"{seed}: pw2wannier90")
    runner.run(["wannier90.x", seed], d, None, "w90.log", f"{seed}: wannier90")
    if (d / f"{seed}.werr").exists():
        raise RuntimeError(f"wannier90 error: {(d / f'{seed}.werr').read_text()}")
    xml = read_qe_xml(d / "out" / f"{seed}.xml")
    info = parse_wout(d / f"{seed}.wout")
    info["forces_eV_per_A"] = xml["forces"].tolist()
    info["total_energy_eV"] = xml["etot"]
    eig = xml["eigenvalues"]
    info["dft_grid"] = {"vbm": float(eig[:, NUM_OCC - 1].max()), "cbm": float(eig[:, NUM_OCC].min())}
    (d / "info.json").write_text(json.dumps(info, indent=1))
    return info


def step_bands(work: Path, runner: Runner) -> dict:
    """DFT bands of eq along G-M-K-G (after the eq Wannier run), compared with eq_hr.dat."""
    d = work / "eq"
    kpath, labels = bands_path()
    kp = "K_POINTS crystal\n%d\n" % len(kpath) + "\n".join(
        f"{k[0]:16.12f} {k[1]:16.12f} {k[2]:16.12f} 1.0" for k in kpath)
    (d / "bands.in").write_text(pw_input("eq", positions("eq"), "bands", kp, NBND, True))
    runner.run(runner.mpi("pw.x", pools=True), d, "bands.in", "bands.out", "eq: pw.x bands")
    dft = read_qe_xml(d / "out" / "eq.xml")["eigenvalues"]
    R, ndeg, H = read_hr(d / "eq_hr.dat")
    shifts = read_wsvec(d / "eq_wsvec.dat", R, H.shape[1])
    tb = np.linalg.eigvalsh(tb_hamiltonian(R, ndeg, H, shifts, kpath))
    occ_err = np.abs(tb[:, :NUM_OCC] - dft[:, :NUM_OCC])
    # the 5th Wannier band (pi*) is entangled: distance to the nearest DFT conduction band
    cb_dist = np.abs(tb[:, NUM_OCC, None] - dft[:, NUM_OCC:]).min(axis=1)
    iK = labels["K"]
    # global Wannier gap on a dense grid
    n = 48
    g = np.array([(i / n, j / n, 0.0) for i in range(n) for j in range(n)])
    tbg = np.linalg.eigvalsh(tb_hamiltonian(R, ndeg, H, shifts, g))
    res = {
        "path_reduced": kpath.tolist(), "labels": labels,
        "dft_eigenvalues": dft.tolist(), "wannier_eigenvalues": tb.tolist(),
        "max_abs_error_occupied_eV": float(occ_err.max()),
        "max_abs_error_occupied_per_band_eV": occ_err.max(axis=0).tolist(),
        "pi_star_max_distance_to_nearest_dft_band_eV": float(cb_dist.max()),
        "pi_star_error_at_K_eV": float(abs(tb[iK, NUM_OCC] - dft[iK, NUM_OCC])),
        "gap_at_K_dft_eV": float(dft[iK, NUM_OCC] - dft[iK, NUM_OCC - 1]),
        "gap_at_K_wannier_eV": float(tb[iK, NUM_OCC] - tb[iK, NUM_OCC - 1]),
        "wannier_gap_dense_grid_eV": float(tbg[:, NUM_OCC].min() - tbg[:, NUM_OCC - 1].max()),
        "wannier_dense_grid": [n, n, 1],
    }
    (d / "bands_check.json").write_text(json.dumps(res, indent=1))
    return res


def parse_dyn(path: Path) -> dict:
    lines = path.read_text().splitlines()
    ntyp, nat = (int(x) for x in lines[2].split()[:2])
    masses, i = {}, 3
    while not lines[i].strip().split()[0].isdigit() or "'" not in lines[i]:
        i += 1
    for t in range(ntyp):
        parts = lines[i + t].replace("'", " ").split()
        masses[int(parts[0])] = (parts[1], float(parts[2]))
    i += ntyp
    types = [int(lines[i + a].split()[1]) for a in range(nat)]
    j = next(k for k, ln in enumerate(lines) if "Dynamical  Matrix in cartesian axes" in ln) + 4
    C = np.zeros((3 * nat, 3 * nat), complex)
    for _ in range(nat * nat):
        a, b = (int(x) for x in lines[j].split())
        for r in range(3):
            v = [float(x) for x in lines[j + 1 + r].split()]
            C[3 * (a - 1) + r, 3 * (b - 1):3 * b] = np.array(v[0::2]) + 1j * np.array(v[1::2])
        j += 4
    k = next(k for k, ln in enumerate(lines) if "Dielectric Tensor" in ln) + 2
    eps = np.array([[float(x) for x in lines[k + r].split()] for r in range(3)])
    k = next(k for k, ln in enumerate(lines) if "Effective Charges E-U" in ln) + 2
    Z = []
    for a in range(nat):
        Z.append([[float(x) for x in lines[k + 1 + r].split()] for r in range(3)])
        k += 4
    return {"species": [masses[t][0] for t in types], "mass_ry": [masses[t][1] for t in types],
            "C": C.real, "epsilon": eps, "Z": np.array(Z)}


def gamma_modes(C: np.ndarray, mass_ry: list[float]) -> tuple[np.ndarray, np.ndarray]:
    m = np.repeat(mass_ry, 3)
    D = C / np.sqrt(np.outer(m, m))
    w2, e = np.linalg.eigh(0.5 * (D + D.T))
    freq = np.sign(w2) * np.sqrt(np.abs(w2)) * RY_TO_CM1
    return freq, e


def step_ph(work: Path, nk: int, runner: Runner, out_json: Path | None) -> dict:
    d = work / "ph"
    d.mkdir(parents=True, exist_ok=True)
    kp = f"K_POINTS automatic\n{nk} {nk} 1 0 0 0"
    (d / "scf.in").write_text(pw_input("ph", positions("eq"), "scf", kp, None, False))
    (d / "ph.in").write_text(
        "hBN phonons and Born charges at Gamma\n&inputph\n  prefix = 'ph'\n  outdir = './out'\n"
        "  fildyn = 'ph.dyn'\n  tr2_ph = 1.0d-16\n  epsil = .true.\n  trans = .true.\n/\n"
        "0.0 0.0 0.0\n")
    t_scf = runner.run(runner.mpi("pw.x", pools=True), d, "scf.in", "scf.out", "ph: pw.x scf (sym)")
    t_ph = runner.run(runner.mpi("ph.x", pools=True), d, "ph.in", "ph.out", "ph: ph.x")
    dyn = parse_dyn(d / "ph.dyn")
    Z = dyn["Z"]
    Z_asr = Z - Z.mean(axis=0)  # charge neutrality sum_s Z_s = 0
    C = dyn["C"]
    nat = len(dyn["species"])
    C_asr = C.copy()
    for a in range(nat):  # simple acoustic sum rule: sum_b C(a,b) = 0
        C_asr[3 * a:3 * a + 3, 3 * a:3 * a + 3] -= sum(C[3 * a:3 * a + 3, 3 * b:3 * b + 3]
                                                        for b in range(nat))
    f_raw, _ = gamma_modes(C, dyn["mass_ry"])
    f_asr, e_asr = gamma_modes(C_asr, dyn["mass_ry"])
    # E' (in-plane optical, doubly degenerate): the two highest modes; pick the x-polarised one
    ep = [i for i in np.argsort(f_asr)[-2:]]
    vecs = e_asr[:, ep]
    # rotate the degenerate pair so that the first vector is polarised along x
    Bx = vecs[0, :]
    vx = vecs @ Bx / np.linalg.norm(Bx)
    vx *= np.sign(vx[0])
    m = np.repeat(dyn["mass_ry"], 3)
    disp = vx / np.sqrt(m)
    disp /= np.linalg.norm(disp)
    text = (d / "ph.out").read_text()
    qe_version = re.search(r"Program PHONON v\.(\S+)", text).group(1)
    res = {
        "description": "Born effective charges, dielectric tensor and Gamma phonons of monolayer hBN "
                       "from Quantum ESPRESSO ph.x (density-functional perturbation theory), "
                       "generated by examples/hbn_dft/pipeline.py",
        "code": "Quantum ESPRESSO (pw.x + ph.x)", "version": qe_version,
        "version_note": "Debian package quantum-espresso 6.7-2 (Debian 12)",
        "structure": {
            "cell_angstrom": cell().tolist(),
            "species": ATOMS,
            "positions_cartesian_angstrom": positions("eq").tolist(),
            "positions_reduced": [[0, 0, 0], [1 / 3, 2 / 3, 0]],
        },
        "settings": {
            "functional": "PBE", "pseudopotentials": {s: SPECIES[s][1] for s in ATOMS},
            "pseudo_valence": {s: SPECIES[s][2] for s in ATOMS},
            "ecutwfc_Ry": ECUTWFC, "ecutrho_Ry": ECUTRHO, "kpoints": [nk, nk, 1],
            "symmetry": "on (ph.x run only)", "conv_thr_Ry": CONV_THR, "tr2_ph": 1e-16,
            "vacuum_angstrom": C_LAT, "assume_isolated": "none (3D periodic slab)",
        },
        "born_charges_convention": "Z[atom][alpha][beta] = dF_{atom,beta}/dE_alpha = "
                                   "(Omega/e) dP_alpha/du_{atom,beta}, ph.x 'E-U' tensor in units "
                                   "of e (alpha: field/polarization, beta: displacement)",
        "born_charges": {s: Z[i].tolist() for i, s in enumerate(ATOMS)},
        "born_charges_asr": {s: Z_asr[i].tolist() for i, s in enumerate(ATOMS)},
        "born_charges_asr_note": "charge neutrality imposed by subtracting the mean over atoms",
        "born_charge_B_inplane": float(Z[0, 0, 0]), "born_charge_N_inplane": float(Z[1, 0, 0]),
        "born_charge_B_outofplane": float(Z[0, 2, 2]), "born_charge_N_outofplane": float(Z[1, 2, 2]),
        "dielectric_tensor": dyn["epsilon"].tolist(),
        "dielectric_tensor_note": "of the periodic slab (depends on the vacuum thickness c)",
        "gamma_phonons": {
            "frequencies_cm-1_raw": f_raw.tolist(),
            "frequencies_cm-1_asr": f_asr.tolist(),
            "asr": "simple acoustic sum rule applied to the Gamma force constants",
            "force_constants_Ry_per_bohr2": C.tolist(),
            "masses_amu": [SPECIES[s][0] for s in ATOMS],
            "E_prime": {
                "frequency_cm-1": float(f_asr[ep[-1]]),
                "frequency_cm-1_raw": float(sorted(f_raw)[-1]),
                "eigenvector_x_mass_weighted": vx.reshape(nat, 3).tolist(),
                "displacement_x_normalised": disp.reshape(nat, 3).tolist(),
                "note": "doubly degenerate TO mode; LO-TO splitting vanishes at q->0 in 2D",
            },
        },
        "timings_s": {"pw.x scf": t_scf, "ph.x": t_ph},
    }
    (d / "dft_born_charges.json").write_text(json.dumps(res, indent=1))
    if out_json is not None:
        out_json.write_text(json.dumps(res, indent=1) + "\n")
    return res


def gauge_check(work: Path, seeds: list[str]) -> dict:
    """max |H_disp(R) - H_eq(R)| and centre shifts: displaced models must follow eq smoothly."""
    R0, nd0, H0 = read_hr(work / "eq" / "eq_hr.dat")
    c0 = np.array(json.loads((work / "eq" / "info.json").read_text())["centres"])
    out = {}
    for s in seeds:
        if s == "eq":
            continue
        R, nd, H = read_hr(work / s / f"{s}_hr.dat")
        if R.shape != R0.shape or np.any(R != R0) or np.any(nd != nd0):
            out[s] = {"error": "R-vector sets differ"}
            continue
        c = np.array(json.loads((work / s / "info.json").read_text())["centres"])
        dH = np.abs(H - H0)
        i = np.unravel_index(dH.argmax(), dH.shape)
        amp = DELTA * np.linalg.norm(SEEDS[s][1])
        out[s] = {"max_abs_dH_eV": float(dH.max()),
                  "max_abs_dH_over_displacement_eV_per_A": float(dH.max() / amp),
                  "argmax_R_m_n": [R[i[0]].tolist(), int(i[1]) + 1, int(i[2]) + 1],
                  "max_abs_dH_onsite_eV": float(np.abs(np.diagonal(H - H0, axis1=1, axis2=2)).max()),
                  "max_centre_shift_A": float(np.linalg.norm(c - c0, axis=1).max())}
    # +-delta pairs: the even part H(+u) + H(-u) - 2 H(0) is O(delta^2) for a smooth gauge, and
    # (H(+2u) - H(-2u)) - 2 (H(+u) - H(-u)) is O(delta^3): a sign or phase flip would show up
    # as an O(1) number here.
    hr = {s: read_hr(work / s / f"{s}_hr.dat")[2] for s in seeds if "error" not in out.get(s, {})}
    for atom in ("B", "N"):
        for ax in ("x", "y"):
            p, m = f"{atom}_{ax}p", f"{atom}_{ax}m"
            if p in hr and m in hr:
                out[f"{p}/{m}"] = {
                    "max_abs_odd_part_eV": float(np.abs(hr[p] - hr[m]).max() / 2),
                    "max_abs_even_part_eV": float(np.abs(hr[p] + hr[m] - 2 * H0).max() / 2)}
            p2, m2 = f"{atom}_{ax}2p", f"{atom}_{ax}2m"
            if all(s in hr for s in (p, m, p2, m2)):
                d1, d2 = hr[p] - hr[m], hr[p2] - hr[m2]
                out[f"{p2}/{m2}"] = {
                    "max_abs_odd_part_eV": float(np.abs(d2).max() / 2),
                    "max_abs_even_part_eV": float(np.abs(hr[p2] + hr[m2] - 2 * H0).max() / 2),
                    "max_abs_nonlinearity_eV": float(np.abs(d2 - 2 * d1).max()),
                    "note": "nonlinearity = max|(H(+2d) - H(-2d)) - 2 (H(+d) - H(-d))|"}
    return out


def step_ship(work: Path, seeds: list[str], ship: Path, nk: int, runner: Runner,
              bands: dict | None) -> dict:
    wdir = ship / "wannier"
    wdir.mkdir(parents=True, exist_ok=True)
    files = {}
    for s in seeds:
        for suf in SHIP_SUFFIXES:
            src = work / s / f"{s}{suf}"
            shutil.copy2(src, wdir / src.name)
            files[src.name] = src.stat().st_size
    per_seed = {}
    for s in seeds:
        info = json.loads((work / s / "info.json").read_text())
        atom, disp = SEEDS[s]
        per_seed[s] = {
            "displaced_atom": atom,
            "displacement_cartesian_A": (DELTA * np.asarray(disp)).tolist(),
            "positions_cartesian_A": positions(s).tolist(), **info}
    summary = {
        "description": "Wannier90 tight-binding models of monolayer hBN at equilibrium and with "
                       "finite atomic displacements, generated by examples/hbn_dft/pipeline.py",
        "codes": {"dft": "Quantum ESPRESSO 6.7 (pw.x, pw2wannier90.x; Debian 6.7-2)",
                  "wannier": "Wannier90 " + str(per_seed[seeds[0]].get("version"))},
        "structure": {"cell_angstrom": cell().tolist(), "species": ATOMS,
                      "positions_reduced_eq": [[0, 0, 0], [1 / 3, 2 / 3, 0]],
                      "a_angstrom": A_LAT, "c_angstrom": C_LAT, "delta_angstrom": DELTA},
        "dft_settings": {"functional": "PBE",
                         "pseudopotentials": {s: SPECIES[s][1] for s in ATOMS},
                         "pseudo_valence": {s: SPECIES[s][2] for s in ATOMS},
                         "ecutwfc_Ry": ECUTWFC, "ecutrho_Ry": ECUTRHO, "conv_thr_Ry": CONV_THR,
                         "kpoints": [nk, nk, 1], "nbnd": NBND, "nosym": True, "noinv": True,
                         "note": "one SCF run per structure directly on the full k-grid "
                                 "(explicit list = Wannier90 kpoints block)"},
        "wannier_settings": {"num_wann": NUM_WANN, "num_bands": NBND, "projections": PROJECTIONS,
                             "wf_labels": WF_LABELS, "num_occupied_bands": NUM_OCC,
                             "spin_degeneracy": 2,
                             "dis_froz_max_eV": DIS_FROZ_MAX, "dis_froz_min": "lowest band",
                             "dis_win": "all num_bands bands", "dis_num_iter": DIS_NUM_ITER,
                             "dis_conv_tol": DIS_CONV_TOL, "num_iter": NUM_ITER,
                             "conv_tol": CONV_TOL, "mp_grid": [nk, nk, 1], "shell_list": 1,
                             "skip_B1_tests": True, "translate_home_cell": False,
                             "use_ws_distance": True},
        "energy_reference": "absolute pw.x eigenvalues (eV), no shift",
        "conventions": {
            "hr": "Wannier90 _hr.dat: H_mn(R) = <w_m,0|H|w_n,R> in eV, R in units of the lattice "
                  "vectors, divide by ndegen(R); H_mn(k) = sum_R H_mn(R)/ndegen(R) "
                  "* (1/N_T) sum_T exp(i k.(R+T)) with the extra shifts T from _wsvec.dat",
            "centres": "_centres.xyz: Cartesian Angstrom, WFs first (lines 'X'), then the atoms; "
                       "each run's own centres (translate_home_cell = false)",
            "tb": "_tb.dat: lattice, H(R) and the position matrix r_mn(R) = <w_m,0|r|w_n,R> "
                  "(Angstrom), without the _wsvec.dat shifts",
            "orbital_order": WF_LABELS,
            "atom_order": ATOMS,
        },
        "seeds": per_seed,
        "gauge_consistency": gauge_check(work, seeds) if "eq" in seeds else {},
        "band_check_eq": ({k: v for k, v in bands.items()
                           if k not in ("path_reduced", "dft_eigenvalues", "wannier_eigenvalues")}
                          if bands else None),
        "files_bytes": files,
        "timings_s": runner.timings,
    }
    (wdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if bands:
        (wdir / "eq_bands_check.json").write_text(json.dumps(
            {k: bands[k] for k in ("path_reduced", "labels", "dft_eigenvalues",
                                   "wannier_eigenvalues")}) + "\n")
    return summary


# --------------------------------------------------------------------------------------
def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="scratch directory for all runs")
    p.add_argument("--steps", default=",".join(STEPS),
                   help=f"comma-separated subset of {STEPS} (default: all)")
    p.add_argument("--seeds", default="all", help=f"comma-separated subset of {list(SEEDS)}")
    p.add_argument("--skip-ph", action="store_true", help="skip the ph.x step")
    p.add_argument("--np", type=int, default=min(2, os.cpu_count() or 1),
                   help="MPI processes (default: 2)")
    p.add_argument("--nk", type=int, default=NK_DEFAULT, help="in-plane k-grid (multiple of 3)")
    p.add_argument("--ship-dir", type=Path, default=here,
                   help="where dft_born_charges.json and wannier/ are written (default: script dir)")
    p.add_argument("--no-ship", action="store_true",
                   help="write nothing outside --workdir (products stay in the workdir)")
    p.add_argument("--clean", action="store_true",
                   help="delete wavefunctions, .mmn/.amn/.chk after each Wannier run")
    args = p.parse_args(argv)

    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    for s in steps:
        if s not in STEPS:
            p.error(f"unknown step {s}")
    if args.skip_ph and "ph" in steps:
        steps.remove("ph")
    seeds = list(SEEDS) if args.seeds == "all" else [s.strip() for s in args.seeds.split(",")]
    for s in seeds:
        if s not in SEEDS:
            p.error(f"unknown seed {s}")
    if args.nk % 3:
        p.error("--nk must be a multiple of 3 so that the grid contains K")
    for exe in ("pw.x", "pw2wannier90.x", "wannier90.x", "ph.x") + (("mpirun",) if args.np > 1 else ()):
        if shutil.which(exe) is None:
            p.error(f"{exe} not found (apt-get install -y quantum-espresso wannier90)")
    ship = None if args.no_ship else args.ship_dir
    if ship is not None:
        ship.mkdir(parents=True, exist_ok=True)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    runner = Runner(args.np)
    t0 = time.perf_counter()

    if "wannier" in steps:
        # eq first: the bands step and the gauge check use it
        for s in sorted(seeds, key=lambda x: x != "eq"):
            print(f"[wannier] {s}", flush=True)
            info = step_wannier(s, work, args.nk, runner)
            print(f"    spreads (A^2): {' '.join(f'{x:.3f}' for x in info['spreads'])}; "
                  f"Omega_I={info['omega']['I']:.4f} Omega_tot={info['omega']['Total']:.4f}")
            if args.clean:
                for f in list((work / s / "out").glob(f"{s}.save/wfc*")) + [
                        work / s / f"{s}{x}" for x in (".mmn", ".amn", ".chk")]:
                    f.unlink(missing_ok=True)

    bands = None
    if "bands" in steps:
        print("[bands] eq", flush=True)
        bands = step_bands(work, runner)
        print(f"    max |E_W - E_DFT| occupied: {bands['max_abs_error_occupied_eV'] * 1e3:.2f} meV; "
              f"gap at K: DFT {bands['gap_at_K_dft_eV']:.4f} eV, Wannier "
              f"{bands['gap_at_K_wannier_eV']:.4f} eV; global Wannier gap "
              f"{bands['wannier_gap_dense_grid_eV']:.3f} eV")
    elif (work / "eq" / "bands_check.json").exists():
        bands = json.loads((work / "eq" / "bands_check.json").read_text())

    if "ph" in steps:
        print("[ph] eq", flush=True)
        res = step_ph(work, args.nk, runner, ship / "dft_born_charges.json" if ship else None)
        print(f"    Z*_B(xx) = {res['born_charge_B_inplane']:.4f}, Z*_N(xx) = "
              f"{res['born_charge_N_inplane']:.4f}, E' = "
              f"{res['gamma_phonons']['E_prime']['frequency_cm-1']:.1f} cm^-1")

    if "ship" in steps:
        print("[ship]", flush=True)
        dest = ship if ship else work / "products"
        summary = step_ship(work, seeds, dest, args.nk, runner, bands)
        for s, g in summary["gauge_consistency"].items():
            print(f"    {s:12s} " + ", ".join(f"{k} = {v:.2e}" for k, v in g.items()
                                              if k.startswith("max_abs") and "over" not in k))
        total = sum(f.stat().st_size for f in (dest / "wannier").iterdir())
        print(f"    shipped {len(summary['files_bytes'])} files to {dest / 'wannier'} "
              f"({total / 1e6:.2f} MB)")

    print(f"total wall time {time.perf_counter() - t0:.1f} s")
    (work / "timings.json").write_text(json.dumps(runner.timings, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
