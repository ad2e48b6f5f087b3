"""wanphonon: magnetic moments of chiral phonons from electronic Berry curvatures.

Implements Ren, Xiao, Saparov & Niu, PRL 127, 186403 (2021) for Wannier90
tight-binding models and built-in Dirac models; see docs/theory.md.
"""

__version__ = "0.1.0"

from .api import run, run_system  # noqa: E402
from .errors import WanphononError  # noqa: E402

# ``wanphonon.prepare`` is the subpackage of ``wanphonon prepare`` (displaced runs);
# setting up a calculation without integrating is ``wanphonon.api.setup``.
__all__ = ["run", "run_system", "WanphononError", "__version__"]
