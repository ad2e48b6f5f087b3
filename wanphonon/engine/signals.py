"""SIGTERM as an exception, so that a run stopped by a batch system saves its checkpoint.

Slurm sends SIGTERM at the time limit and on ``scancel`` (``#SBATCH --signal``
can send it earlier); ``mpiexec`` forwards it to every rank.  Inside
:func:`terminate_raises` a SIGTERM raises :class:`Terminated` in the main
thread, the engine saves its checkpoint and the command line exits with
status 143 (128 + 15, the shell's convention); ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import signal
import threading

#: Exit status of a run stopped by SIGTERM (checkpoint saved), and by SIGINT.
EXIT_TERMINATED = 143
EXIT_INTERRUPTED = 130


class Terminated(BaseException):
    """Raised by SIGTERM (a BaseException, like KeyboardInterrupt: not an error of the run)."""


def _raise(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def terminate_raises():
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
