"""MPI, only when the program was started under an MPI launcher.

A serial run never imports mpi4py, and mpi4py is optional (the ``mpi`` extra;
docs/cluster.md).  Under ``mpiexec -n N`` or ``srun`` the launcher sets
environment variables that we look for before importing it.  Without mpi4py a
launch with more than one task is refused (all ranks would compute the whole
mesh and write the same files); a single task runs serially.
"""

from __future__ import annotations

import os

from ..errors import WanphononError

_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                       "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD", "SLURM_PROCID")
#: variables holding the number of tasks of the launch (MPICH/Hydra, Open MPI, Slurm step)
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")


class SerialComm:
    """The subset of the mpi4py communicator interface the engine uses, for one process."""

    rank = 0
    size = 1

    def gather(self, obj, root=0):
        return [obj]

    def bcast(self, obj, root=0):
        return obj

    def barrier(self):
        pass


class MPIComm:
    """Thin wrapper of ``mpi4py.MPI.COMM_WORLD``."""

    def __init__(self, comm):
        self._comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def gather(self, obj, root=0):
        return self._comm.gather(obj, root=root)

    def bcast(self, obj, root=0):
        return self._comm.bcast(obj, root=root)

    def barrier(self):
        self._comm.Barrier()


def launched_under_mpi() -> bool:
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


def launcher_size() -> int:
    """The number of tasks the launcher reports (1 when it says nothing)."""
    for v in _SIZE_VARIABLES:
        if os.environ.get(v, "").isdigit():
            return int(os.environ[v])
    return 1


def world() -> SerialComm | MPIComm:
    """The world communicator: MPI if launched under mpiexec with >1 rank, else serial."""
    if not launched_under_mpi():
        return SerialComm()
    try:
        from mpi4py import MPI
    except ImportError:
        if launcher_size() > 1:
            raise WanphononError(
                f"started as one of {launcher_size()} MPI tasks, but mpi4py is not installed",
                fix="install it built against this MPI: pip install --no-binary mpi4py mpi4py "
                    "(docs/cluster.md), or run without mpiexec/srun") from None
        return SerialComm()
    comm = MPI.COMM_WORLD
    return MPIComm(comm) if comm.Get_size() > 1 else SerialComm()
