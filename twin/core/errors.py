"""The project's error family and warning class.

Every error the twin raises on purpose derives from :class:`TwinError`, so a
command can tell bad input (exit 2) from an internal failure (exit 1). Messages
name the file, the field, the offending value and what is allowed, in one line.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConnectorError",
    "ConvergenceError",
    "ModelError",
    "TwinError",
    "TwinWarning",
    "format_location",
]


def format_location(file: str | None = None, field: str | None = None) -> str:
    """Return ``"file: field: "`` with the parts that are known.

    Parameters
    ----------
    file : str, optional
        Path of the input file the problem was found in.
    field : str, optional
        Dotted path of the field, e.g. ``"buildings.3.roofs.0.tilt_deg"``.

    Returns
    -------
    prefix : str
        A prefix for a one-line message; empty when neither part is known.
    """
    return "".join(f"{part}: " for part in (file, field) if part)


class TwinError(Exception):
    """Base class of every error the twin raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it, in one line.
    file : str, optional
        The input file the problem was found in.
    field : str, optional
        The field (dotted path) that is wrong.
    allowed : str, optional
        What would have been accepted, e.g. ``"one of pv, load, battery"``.
    """

    #: Process exit code for a command that stops with this error.
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.field = field
        self.allowed = allowed
        super().__init__(str(self))

    def __str__(self) -> str:
        text = format_location(self.file, self.field) + self.message
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return " ".join(text.split())


class ConfigError(TwinError, ValueError):
    """Bad input: a district, scenario, site or register-map file, or an argument.

    Commands exit with code 2 on this error.
    """

    exit_code = 2


class ModelError(TwinError):
    """A model cannot compute a result from inputs that passed validation."""


class ConvergenceError(ModelError):
    """A power flow did not converge; the message names the steps and why."""


class ConnectorError(TwinError):
    """A device or meter-data source failed: unreachable, silent, or lying.

    The message names the device.
    """


class TwinWarning(UserWarning):
    """Warning class of the project's numerical functions (they never log)."""
