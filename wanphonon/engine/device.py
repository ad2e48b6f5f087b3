"""Running the engine on a torch device ([run] device, ``--device``).

``device``:

* ``"numpy"`` (the default): numpy and LAPACK on the host, as always;
* ``"gpu"`` (or ``"cuda"``): PyTorch on the first CUDA device: the Fourier sums of H
  and its derivatives, ``eigh`` (torch's batched solver up to N = 32 bands, the host
  LAPACK above, :data:`wanphonon.geometry.backend.TORCH_CUDA_EIGH_MAX_N`) and every
  projector chain run there, batch by batch, in complex128;
* ``"cpu"``: the same torch code on the CPU (to test the torch path without an
  accelerator; not faster than numpy).

The system is wrapped so that ``derivatives(k)`` returns tensors on the device; the
geometry code (:mod:`wanphonon.geometry`) is the same for every device and hands
back per-k results as numpy arrays, so the engine's sums, MPI, checkpoints and
adaptive refinement are unchanged.  Results equal the numpy path to rounding
(tests/test_gpu_backend.py checks 1e-10 relative on torch's CPU device).
Use large batches on a GPU (``[kmesh] batch_size`` of 1e4-1e5 k-points).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..geometry import backend
from ..geometry.hamiltonian import HamiltonianDerivatives
from ..systems.tight_binding import TightBinding

DEVICES = ("numpy", "cpu", "gpu", "cuda")


def torch_device(name: str | None, path: str | None = None):
    """The ``torch.device`` for a ``[run] device`` value, or None for numpy.

    A clear :class:`ConfigError` (no traceback) when torch or CUDA is missing.
    """
    if name is None or name == "numpy":
        return None
    if name not in DEVICES:
        raise ConfigError(f"[run] device = {name!r} is not known", path=path,
                          fix=f"use one of {', '.join(DEVICES)}")
    try:
        import torch
    except ImportError:
        raise ConfigError(f"device = {name!r} needs PyTorch, which is not installed", path=path,
                          fix="pip install 'wanphonon[gpu]' (a CUDA build of torch for a GPU), or "
                              "run on the CPU with device = \"numpy\" (the default)") from None
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device = {name!r}: PyTorch {torch.__version__} sees no CUDA device",
                          path=path,
                          fix="run on a machine with an NVIDIA GPU and a CUDA build of torch, or "
                              "drop [run] device / --device (numpy on the CPU)")
    return torch.device("cuda")


class DeviceSystem:
    """``system`` with H and its derivatives delivered as complex128 tensors on ``device``.

    Tight-binding systems (lattice models, Wannier input) compute the Fourier sums
    on the device; other systems (continuum models) compute on the host and their
    arrays are copied over.  Every other attribute is the wrapped system's; there is
    no ``derivatives_fft`` (the dense sum is the device's route).
    """

    def __init__(self, system, device):
        self.system = system
        self.device = device

    def __getattr__(self, name):
        if name == "derivatives_fft":
            raise AttributeError(name)
        return getattr(self.system, name)

    def derivatives(self, k_cart) -> HamiltonianDerivatives:
        import torch
        if isinstance(self.system, TightBinding):
            return self.system.derivatives(torch.as_tensor(k_cart, dtype=torch.float64, device=self.device))
        d = self.system.derivatives(k_cart)
        anchor = torch.zeros(0, device=self.device)
        return HamiltonianDerivatives(*(backend.like(anchor, x) for x in (d.H, d.dk, d.du, d.dkdu)),
                                      backend.like(anchor, d.dpos))


def on_device(system, device):
    """``system`` itself for numpy (``device`` None), else a :class:`DeviceSystem`."""
    return system if device is None else DeviceSystem(system, device)
