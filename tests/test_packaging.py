"""Packaging for clusters: nothing forces the MPICH wheel, and MPI stays optional.

On a cluster mpi4py must load the site MPI; the ``mpich`` wheel would shadow it
(docs/cluster.md).  So the core dependencies and the ``mpi`` extra must not pull
it in, and a serial run must work without mpi4py at all.
"""

import os
import re
import subprocess
import sys
import tomllib

import pytest

from wanphonon.engine import parallel
from wanphonon.errors import WanphononError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)["project"]


def _names(requirements):
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_no_mpi_library_forced_on_a_cluster():
    project = _project()
    extras = project["optional-dependencies"]
    assert not _names(project["dependencies"]) & {"mpich", "openmpi", "mpi4py"}
    assert _names(extras["mpi"]) == {"mpi4py"}
    assert _names(extras["mpich"]) == {"mpi4py", "mpich"}


def test_ci_runs_the_readme_test_command_verbatim():
    """.ci/run extracts the README's test command; it must find it and it must install the
    MPICH wheel (so that the MPI tests run in CI)."""
    awk = re.search(r"test_command=\$\(awk '([^']*)' README.md\)",
                    open(os.path.join(ROOT, ".ci", "run")).read()).group(1)
    command = subprocess.run(["awk", awk, "README.md"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert command.startswith("python3 -m venv .venv && ")
    assert "'.[test,mpich]'" in command and command.endswith("-m pytest -q")
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "    " + command + "\n" in readme


def test_serial_run_never_imports_mpi4py():
    env = {k: v for k, v in os.environ.items() if k not in parallel._LAUNCHER_VARIABLES}
    code = ("import sys; from wanphonon.engine.parallel import world; c = world(); "
            "assert c.size == 1 and 'mpi4py' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_many_tasks_without_mpi4py_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)          # import mpi4py -> ImportError
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(WanphononError, match="mpi4py is not installed"):
        parallel.world()
    monkeypatch.setenv("PMI_SIZE", "1")                        # a single task runs serially
    assert parallel.world().size == 1


def test_top_level_help_is_plain_text():
    proc = subprocess.run([sys.executable, "-m", "wanphonon.cli", "--help"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0
    assert "``" not in proc.stdout and ":mod:" not in proc.stdout
    assert "chiral phonons" in proc.stdout.splitlines()[2]
