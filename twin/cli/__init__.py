"""The ``twin`` command: the user interface of the district twin.

A thin layer over the packages: it parses arguments, configures logging (the
only place that does), and turns the project's errors into one-line messages
and exit codes: 0 success, 2 bad input (:class:`~twin.core.errors.ConfigError`),
1 internal error.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

# importing the command modules registers their commands on ``app``
from twin.cli import calibrate, common, district, ensemble, scenario, services, store, users, validate  # noqa: F401
from twin.cli.common import _fail, app
from twin.cli.common import _without_frame_dumps as _without_frame_dumps
from twin.core.errors import TwinError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the ``twin`` command and exit with its code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    common.own_process = argv is None
    try:
        app(args=argv, prog_name="twin")
    except SystemExit as done:  # typer ends every command with it
        if done.code in (None, 0):
            _quick_exit()
        raise
    except TwinError as err:
        _fail(f"twin: {err}", err.exit_code)
    except KeyboardInterrupt:
        _fail("twin: interrupted", 130)
    except Exception as err:
        if os.environ.get("TWIN_DEBUG"):
            raise
        _fail(f"twin: internal error: {type(err).__name__}: {err} (set TWIN_DEBUG=1 for the traceback)", 1)
    _quick_exit()
    sys.exit(0)


def _quick_exit() -> None:
    """End a successful command that asked for it (:data:`twin.cli.common.quick_exit`) at once.

    The exit handlers run and the output is flushed; then the process ends without the
    interpreter freeing every object and module one by one (after a scenario run: a year's
    arrays, half a second of CPU). Only in a process of its own with no thread left to wait for.
    """
    if common.quick_exit and common.own_process and not _other_threads():
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _other_threads() -> list[threading.Thread]:
    """Threads other than the main one that the interpreter would wait for at exit (not daemons)."""
    return [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
