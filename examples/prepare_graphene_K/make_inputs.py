#!/usr/bin/env python3
"""Write the inputs of this example: POSCAR (graphene, primitive cell) and phonopy_params.yaml.

a = 2.46 A, 10 A of vacuum, A atom at the origin, B at (1/3, 2/3).  The phonons
come from a toy force-constant model (first- and second-neighbour springs,
wanphonon.prepare.springs) in a 3 x 3 phonopy supercell, which contains the K
point (1/3, 1/3), so the K-point modes are exact for the model.

    python examples/prepare_graphene_K/make_inputs.py
"""

import os

import ase.io
import numpy as np
from ase import Atoms

from wanphonon.prepare.springs import spring_phonopy

A, C = 2.46, 10.0
HERE = os.path.dirname(os.path.abspath(__file__))


def structure() -> Atoms:
    cell = [[A, 0, 0], [-A / 2, A * np.sqrt(3) / 2, 0], [0, 0, C]]
    return Atoms("C2", scaled_positions=[[0, 0, 0], [1 / 3, 2 / 3, 0]], cell=cell, pbc=True)


def main() -> None:
    atoms = structure()
    ase.io.write(os.path.join(HERE, "POSCAR"), atoms, format="vasp", direct=True)
    ph = spring_phonopy(atoms, [(A / np.sqrt(3), 25.0, 5.0), (A, 4.0, 1.0)], supercell=(3, 3, 1))
    ph.save(os.path.join(HERE, "phonopy_params.yaml"), settings={"force_constants": True})


if __name__ == "__main__":
    main()
