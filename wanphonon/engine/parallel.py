"""MPI, only when the program was started under an MPI launcher.

A serial run never imports mpi4py.  Under ``mpiexec -n N`` the launcher sets
environment variables that we look for before importing it.
"""

from __future__ import annotations

import os

_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                       "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD", "SLURM_PROCID")


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


def world() -> SerialComm | MPIComm:
    """The world communicator: MPI if launched under mpiexec with >1 rank, else serial."""
    if not launched_under_mpi():
        return SerialComm()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    return MPIComm(comm) if comm.Get_size() > 1 else SerialComm()
