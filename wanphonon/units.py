"""Physical constants and unit conversions (CODATA via scipy.constants, masses via ASE).

The program works in eV and Angstrom.  A phonon moment comes out naturally in
ionic magnetons ``mu_I = e hbar / (2 m_1)`` of the representative ion; the
conversions to nuclear and Bohr magnetons need its mass:
``mu_I / mu_N = m_p / m_1`` and ``mu_I / mu_B = m_e / m_1``.
"""

from __future__ import annotations

import scipy.constants as sc
from ase.data import atomic_masses, atomic_numbers

from .errors import ConfigError

BOHR_TO_ANGSTROM = sc.physical_constants["Bohr radius"][0] * 1e10
PROTON_MASS_AMU = sc.m_p / sc.atomic_mass
ELECTRON_MASS_AMU = sc.m_e / sc.atomic_mass


def species_mass(symbol: str) -> float:
    """Standard atomic mass (amu) of a chemical element, from ASE."""
    try:
        return float(atomic_masses[atomic_numbers[symbol]])
    except KeyError:
        raise ConfigError(f"unknown chemical species {symbol!r}",
                          fix="give a chemical symbol such as 'B', or mass_amu instead") from None


def magneton_ratios(mass_amu: float) -> dict[str, float]:
    """``mu_I`` expressed in nuclear and Bohr magnetons for an ion of ``mass_amu``."""
    return {"nuclear_magneton": PROTON_MASS_AMU / mass_amu,
            "bohr_magneton": ELECTRON_MASS_AMU / mass_amu}
