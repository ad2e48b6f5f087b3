"""Array backends of the geometry code: numpy (the default) or torch (CPU or CUDA).

The formulas of :mod:`wanphonon.geometry` are written once.  They use array
methods that numpy and torch share (``@``, ``.conj()``, ``.swapaxes()``,
``.real``, ``.imag``, ``.any()``) and, for the rest, the functions below, which
look at the array they are given: numpy arrays stay on the host with numpy's
routines, torch tensors stay on their device with torch's.  The engine hands
the geometry code torch tensors only when a run asks for a device
(``[run] device``, :mod:`wanphonon.engine.device`); per-k results always come
back as numpy arrays (:func:`to_numpy`).

All arithmetic is complex128/float64 on every backend.
"""

from __future__ import annotations

import numpy as np

#: Largest matrix size for which torch's batched eigh runs on a CUDA device; above it
#: the host LAPACK is used (torch's batched solver, measured on an H100: 0.31 us per
#: matrix at N = 16, 1.0 us at 32, 865 us at 64).
TORCH_CUDA_EIGH_MAX_N = 32


def is_torch(x) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


def einsum(subscripts: str, *operands):
    """``einsum`` of numpy or torch, by the type of the first operand."""
    if is_torch(operands[0]):
        import torch
        return torch.einsum(subscripts, *operands)
    return np.einsum(subscripts, *operands)


def zeros(shape, like, dtype=None):
    """Zeros on the backend (and device) of ``like``, with its dtype unless ``dtype`` is given
    (``"real"`` or ``"complex"``: float64 or complex128)."""
    if is_torch(like):
        import torch
        dt = {None: like.dtype, "real": torch.float64, "complex": torch.complex128}[dtype]
        return torch.zeros(shape, dtype=dt, device=like.device)
    return np.zeros(shape, dtype={None: like.dtype, "real": float, "complex": complex}[dtype])


def empty(shape, like, dtype="complex"):
    """Uninitialised array on the backend (and device) of ``like`` (complex128 by default)."""
    if is_torch(like):
        import torch
        return torch.empty(shape, dtype={"real": torch.float64, "complex": torch.complex128}[dtype],
                           device=like.device)
    return np.empty(shape, dtype={"real": float, "complex": complex}[dtype])


def exp(x):
    if is_torch(x):
        import torch
        return torch.exp(x)
    return np.exp(x)


def first_is_zero(x) -> bool:
    """Whether ``x`` is non-empty and its first element is 0 (a cheap hint that it may be all 0)."""
    if is_torch(x):
        return x.numel() > 0 and bool(x.reshape(-1)[0] == 0)
    return x.size > 0 and x.flat[0] == 0


def contiguous(x):
    """A C-contiguous copy of ``x`` (or ``x`` itself if it already is)."""
    return x.contiguous() if is_torch(x) else np.ascontiguousarray(x)


def like(x, array):
    """``array`` (numpy, or None) on the backend and device of ``x``."""
    if array is None or not is_torch(x):
        return array
    import torch
    return torch.as_tensor(np.asarray(array), device=x.device)


def to_numpy(x) -> np.ndarray:
    """A host numpy array (no copy for numpy input)."""
    if is_torch(x):
        return x.detach().resolve_conj().cpu().numpy()
    return np.asarray(x)


def eigh(h):
    """Eigenvalues (ascending) and eigenvectors of a stack of Hermitian matrices.

    numpy: ``numpy.linalg.eigh``.  torch: ``torch.linalg.eigh`` on the tensor's
    device, except on CUDA above :data:`TORCH_CUDA_EIGH_MAX_N`, where the matrices
    go through the host LAPACK and the eigenpairs come back to the device.
    """
    if not is_torch(h):
        return np.linalg.eigh(h)
    import torch
    if h.device.type == "cuda" and h.shape[-1] > TORCH_CUDA_EIGH_MAX_N:
        e, v = np.linalg.eigh(to_numpy(h))
        return torch.as_tensor(e, device=h.device), torch.as_tensor(v, device=h.device)
    e, v = torch.linalg.eigh(h)
    return e, v
