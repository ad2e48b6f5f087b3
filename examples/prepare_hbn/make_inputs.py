#!/usr/bin/env python3
"""Write the inputs of this example: POSCAR (monolayer hBN) and phonopy_params.yaml.

The structure is that of examples/hbn_dft (a = 2.50 A, 10 A of vacuum, B at the
origin, N at (1/3, 2/3), the B-N bond along +y).  The phonons come from a toy
force-constant model (nearest-neighbour springs, wanphonon.prepare.springs) in a
3 x 3 phonopy supercell: not physical frequencies, but the right symmetry and the
exact mass ratio in the Gamma E' pair.  For a real calculation, give the
phonopy_params.yaml of your own DFT phonons instead.

    python examples/prepare_hbn/make_inputs.py
"""

import os

import ase.io
import numpy as np
from ase import Atoms

from wanphonon.prepare.springs import spring_phonopy

A, C = 2.50, 10.0
HERE = os.path.dirname(os.path.abspath(__file__))


def structure() -> Atoms:
    cell = [[A, 0, 0], [-A / 2, A * np.sqrt(3) / 2, 0], [0, 0, C]]
    return Atoms("BN", scaled_positions=[[0, 0, 0], [1 / 3, 2 / 3, 0]], cell=cell, pbc=True)


def main() -> None:
    atoms = structure()
    ase.io.write(os.path.join(HERE, "POSCAR"), atoms, format="vasp", direct=True)
    bond = A / np.sqrt(3)
    ph = spring_phonopy(atoms, [(bond, 20.0, 2.0), (A, 3.0, 0.5)], supercell=(3, 3, 1))
    ph.save(os.path.join(HERE, "phonopy_params.yaml"), settings={"force_constants": True})


if __name__ == "__main__":
    main()
