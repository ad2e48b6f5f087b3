"""Atomic per-rank checkpoints of per-batch partial sums, for resumable runs.

Each rank writes ``<dir>/rank<r>.npz`` holding the indices and the partial-sum
rows of the batches it has finished, plus a fingerprint of the calculation.
A file is replaced atomically (write to a temporary name, then ``os.replace``),
so a ``kill -9`` at any moment leaves either the old or the new file.  On
resume every rank reads all files, whatever number of ranks wrote them, and
skips the batches already done; because a batch's partial sums do not depend
on which rank computed them, the resumed result is identical.
"""

from __future__ import annotations

import glob
import os
import time

import numpy as np

from ..errors import WanphononError


class Checkpoint:
    def __init__(self, directory: str, fingerprint: str, rank: int, interval_s: float = 120.0):
        self.directory = directory
        self.fingerprint = fingerprint
        self.rank = rank
        self.interval_s = interval_s
        self._rows: dict[int, np.ndarray] = {}
        self._last_save = time.monotonic()
        os.makedirs(directory, exist_ok=True)

    @property
    def path(self) -> str:
        return os.path.join(self.directory, f"rank{self.rank}.npz")

    def load_all(self) -> dict[int, np.ndarray]:
        """Rows of every batch recorded by any rank of an earlier run of the same calculation."""
        rows: dict[int, np.ndarray] = {}
        for path in sorted(glob.glob(os.path.join(self.directory, "rank*.npz"))):
            try:
                with np.load(path, allow_pickle=False) as data:
                    if str(data["fingerprint"]) != self.fingerprint:
                        raise WanphononError(
                            "this checkpoint belongs to a different calculation (inputs or "
                            "settings changed)", path=path,
                            fix="rerun without --resume into a fresh --out directory, or restore "
                                "the original inputs")
                    found = {int(i): row for i, row in zip(data["indices"], data["rows"])}
            except (OSError, KeyError, ValueError) as exc:
                raise WanphononError(f"unreadable checkpoint file ({exc})", path=path,
                                     fix="delete the checkpoint directory and start again") from None
            rows.update(found)
            if os.path.abspath(path) == os.path.abspath(self.path):
                # this rank will overwrite its own file: keep what it held
                self._rows.update(found)
        return rows

    def record(self, index: int, row: np.ndarray) -> None:
        self._rows[index] = row
        if time.monotonic() - self._last_save >= self.interval_s:
            self.save()

    def save(self) -> None:
        if not self._rows:
            return
        indices = np.array(sorted(self._rows))
        rows = np.array([self._rows[i] for i in indices])
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=np.array(self.fingerprint), indices=indices, rows=rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._last_save = time.monotonic()
