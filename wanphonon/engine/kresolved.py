"""Per-k output: the integrands of every k-point a rank computed, in ``k_resolved/rank<r>.npz``.

Arrays (one row per k-point, in batch order on that rank): ``k_cart`` (1/A),
``weight`` (integration weight incl. 1/(2 pi)^d), ``included`` (False where the
adiabatic cutoff dropped the point), ``born_a``, ``born_b``, ``energy``, ``total``,
``berry_curvature`` (per spin; A^2 in 2D), ``born_charge`` ``(3, 2)`` and ``gap`` (eV).
``sum(weight * x)`` over all ranks' files is the grid integral of ``x`` per spin.
The files grow with the grid: ask for them (``[output] k_resolved = true``) on grids
that fit on disk.
"""

from __future__ import annotations

import os

import numpy as np

FIELDS = ("born_a", "born_b", "energy", "total", "berry_curvature", "born_charge", "gap")


class KResolvedRecorder:
    """Callback for :func:`wanphonon.engine.integrate.integrate` that stores per-k integrands."""

    def __init__(self, directory: str, rank: int):
        self.path = os.path.join(directory, f"rank{rank}.npz")
        os.makedirs(directory, exist_ok=True)
        self._parts: list[dict] = []

    def __call__(self, batch, include: np.ndarray, values) -> None:
        part = {"k_cart": batch.k_cart, "weight": batch.weights, "included": include}
        part.update({name: getattr(values, name) for name in FIELDS})
        self._parts.append(part)

    def save(self) -> None:
        if not self._parts:
            return
        data = {key: np.concatenate([p[key] for p in self._parts]) for key in self._parts[0]}
        tmp = self.path + ".tmp.npz"
        np.savez_compressed(tmp, **data)
        os.replace(tmp, self.path)


def load(directory: str) -> dict[str, np.ndarray]:
    """All ranks' per-k arrays of a run, concatenated."""
    parts = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("rank") and name.endswith(".npz"):
            with np.load(os.path.join(directory, name)) as f:
                parts.append({k: f[k] for k in f.files})
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
