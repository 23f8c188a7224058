"""Login of the dashboard: HTTP Basic authentication with credentials from the environment or a file.

Credentials never live in the code. They come, first found wins, from

* ``TWIN_DASHBOARD_USER`` and ``TWIN_DASHBOARD_PASSWORD`` (one user), or
* ``DATA_ROOT/dashboard-users.json``: ``{"user": "password or werkzeug hash", ...}``; a value
  starting with ``scrypt:`` or ``pbkdf2:`` is checked as a hash
  (``werkzeug.security.generate_password_hash``), anything else as the plain password.

Every route needs the login except :data:`PUBLIC_ROUTES`. dash-auth leaves ``/_dash-layout``
and the component bundles public by design, so the layouts carry no data: every number
reaches the browser through a callback (``/_dash-update-component``), which needs the login.
dash-auth 2.3.0 would let a forged callback through when an input named ``pathname`` carries
a public route; :func:`dashboard.app.create_app` closes that with a hook of its own that
checks the login on every callback request.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from werkzeug.security import check_password_hash

from twin.core.errors import ConfigError

__all__ = ["ENV_PASSWORD", "ENV_USER", "PUBLIC_ROUTES", "USERS_FILE", "load_credentials", "password_checker"]

ENV_USER: Final[str] = "TWIN_DASHBOARD_USER"
ENV_PASSWORD: Final[str] = "TWIN_DASHBOARD_PASSWORD"
USERS_FILE: Final[str] = "dashboard-users.json"
PUBLIC_ROUTES: Final[list[str]] = ["/healthz"]
_HASH_PREFIXES: Final[tuple[str, ...]] = ("scrypt:", "pbkdf2:")


def load_credentials(data_root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The dashboard's users: user name -> password or password hash.

    Raises
    ------
    ConfigError
        When neither the environment nor the users file gives a login, or the file is malformed.
    """
    env = os.environ if environ is None else environ
    user, password = env.get(ENV_USER, ""), env.get(ENV_PASSWORD, "")
    if user and password:
        return {user: password}
    if user or password:
        raise ConfigError(f"set both {ENV_USER} and {ENV_PASSWORD} (only one is set)", field=ENV_USER)
    path = Path(data_root) / USERS_FILE
    if not path.is_file():
        raise ConfigError(
            f"no dashboard login: set {ENV_USER} and {ENV_PASSWORD}, or write {path} "
            '(e.g. {"manager": "a long password"})',
            file=str(path),
        )
    try:
        users = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"not valid JSON: {err}", file=str(path)) from err
    if (
        not isinstance(users, dict)
        or not users
        or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in users.items())
    ):
        raise ConfigError('expected {"user": "password", ...} with non-empty strings', file=str(path))
    return dict(users)


def password_checker(users: Mapping[str, str]) -> Callable[[str, str], bool]:
    """A dash-auth ``auth_func``: constant-time check of a user's password or password hash."""
    known = dict(users)

    def check(username: str, password: str) -> bool:
        stored = known.get(username)
        if stored is None or not password:
            return False
        if stored.startswith(_HASH_PREFIXES):
            return check_password_hash(stored, password)
        return hmac.compare_digest(stored.encode(), password.encode())

    return check
