"""Integer lattice vectors R as scalar keys, for fast matching of R lists."""

from __future__ import annotations

import numpy as np


def r_keys(*arrays: np.ndarray) -> list[np.ndarray]:
    """Encode ``(..., 3)`` integer vectors as int64 keys with one common base for all arrays.

    The keys preserve lexicographic order (that of ``np.unique(R, axis=0)``), so they can
    be sorted and searched in place of the vectors.
    """
    sized = [a for a in arrays if a.size]
    lo = min(int(a.min()) for a in sized) if sized else 0
    hi = max(int(a.max()) for a in sized) if sized else 0
    base = hi - lo + 1
    return [((np.asarray(a[..., 0], np.int64) - lo) * base + (a[..., 1] - lo)) * base + (a[..., 2] - lo)
            for a in arrays]
