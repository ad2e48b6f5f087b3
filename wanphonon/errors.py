"""Exceptions that carry a user-facing message.

Every error a user can cause (bad input files, an inconsistent configuration,
a closed gap) is raised as a :class:`WanphononError`.  The command line prints
its message and exits with status 2; it never shows a traceback for these.
The message names the file (and line) concerned and says how to fix it.
"""

from __future__ import annotations


class WanphononError(Exception):
    """An error in the user's input or set-up, with a message that says the fix."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 fix: str | None = None):
        self.path = path
        self.line = line
        self.fix = fix
        self.problem = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        text = where + self.problem
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class InputFormatError(WanphononError):
    """A file is malformed, truncated or inconsistent with its own header."""


class ConfigError(WanphononError):
    """The TOML configuration is broken or asks for something impossible."""


class ModelMismatchError(WanphononError):
    """Equilibrium and displaced Wannier models do not belong together."""


class GapClosedError(WanphononError):
    """Occupied and unoccupied levels are (nearly) degenerate at some k-point.

    ``index`` is the position of the offending k-point inside the batch handed
    to the geometry code; the engine replaces it by the k-point's coordinates.
    """

    def __init__(self, message: str, *, index: int, gap: float, fix: str | None = None):
        self.index = index
        self.gap = gap
        super().__init__(message, fix=fix)
