"""Login of the dashboard: HTTP Basic authentication, passwords hashed at rest, failed logins throttled.

Credentials never live in the code. They come, first found wins, from

* ``TWIN_DASHBOARD_USER`` and ``TWIN_DASHBOARD_PASSWORD`` (one user), or
* ``DATA_ROOT/dashboard-users.json``: ``{"user": "password hash", ...}`` for energy managers,
  ``{"user": {"password": "password hash", "role": "viewer"}}`` for read-only users; hashes of
  :func:`hash_password` (``werkzeug.security.generate_password_hash``: salted scrypt, a value
  starting with ``scrypt:`` or ``pbkdf2:``), written by ``twin users add`` (:func:`add_user`).
  A plain password found in the file is replaced by its hash when the file is read (the file
  is rewritten atomically, its mode kept): a file written by hand before hashing existed keeps
  working and holds no plain password after the first start. When the file cannot be
  rewritten, a warning says so and the plain password is compared in constant time.

Two roles (:data:`ROLES`): the energy manager sees and may change everything; the viewer sees
everything and changes nothing: its requests that could change something (any method but
GET/HEAD/OPTIONS, and the callbacks registered with :func:`manager_only`) are answered 403, in
the dashboard and in the API alike.

:func:`install_login` guards every route except :data:`PUBLIC_ROUTES`, callbacks included.
The layouts carry no data: every number reaches the browser through a callback
(``/_dash-update-component``), which needs the login like every page. A request without
credentials, or with another scheme than Basic, is answered 401 with the challenge; a
malformed Basic header 400; a callback request whose body is not a Dash callback 400. Failed
logins are counted per client address (:mod:`dashboard.throttle`): while an address is over
its limit, no password from it is checked and the answer is 429 with ``Retry-After``. Each
failed login is logged as one line with the address and the user name, never the password.
A successful check is remembered per worker (by a keyed digest of user and password), so the
browser's credentials on every request do not cost a password hash each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from flask import Flask, Response, g, has_request_context, request
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.throttle import LoginThrottle
from twin.core.errors import ConfigError

__all__ = [
    "CALLBACK_ROUTE",
    "ENV_PASSWORD",
    "ENV_USER",
    "MANAGER",
    "MANAGER_ONLY_KEY",
    "PUBLIC_ROUTES",
    "ROLES",
    "USERS_FILE",
    "VIEWER",
    "Account",
    "MalformedCredentialsError",
    "add_user",
    "callback_problem",
    "current_user",
    "hash_password",
    "install_login",
    "list_users",
    "load_accounts",
    "load_credentials",
    "manager_only",
    "parse_basic",
    "password_checker",
    "remove_user",
    "verify_password",
]

ENV_USER: Final[str] = "TWIN_DASHBOARD_USER"
ENV_PASSWORD: Final[str] = "TWIN_DASHBOARD_PASSWORD"
USERS_FILE: Final[str] = "dashboard-users.json"
PUBLIC_ROUTES: Final[list[str]] = ["/healthz"]
#: The callback route of Dash.
CALLBACK_ROUTE: Final[str] = "/_dash-update-component"
_HASH_PREFIXES: Final[tuple[str, ...]] = ("scrypt:", "pbkdf2:")
#: The energy manager: sees and may change everything.
MANAGER: Final[str] = "manager"
#: A read-only user: sees everything, changes nothing.
VIEWER: Final[str] = "viewer"
ROLES: Final[tuple[str, ...]] = (MANAGER, VIEWER)
#: Shortest password ``twin users add`` accepts.
MIN_PASSWORD_CHARS: Final[int] = 10
#: Where the Flask config keeps the output keys of manager-only callbacks.
MANAGER_ONLY_KEY: Final[str] = "TWIN_MANAGER_ONLY_CALLBACKS"
_READ_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD", "OPTIONS"})
_FILE_SHAPE: Final[str] = 'expected {"user": "password hash" or {"password": "...", "role": "viewer"}, ...}'

_REALM: Final[str] = 'Basic realm="Beucha district twin", charset="UTF-8"'
#: Successful logins remembered per worker.
_REMEMBERED: Final[int] = 256
#: Characters of a user name shown in the log.
_LOGGED_USER_CHARS: Final[int] = 64

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    """A dashboard user: the password hash (or, from the environment, the password) and the role."""

    password: str
    role: str = MANAGER


class MalformedCredentialsError(ValueError):
    """An ``Authorization: Basic`` header that does not decode to ``user:password``."""


def hash_password(password: str) -> str:
    """A salted hash of ``password`` for the users file (werkzeug's scrypt)."""
    return generate_password_hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches a stored hash (or, from the environment, a plain password); constant time."""
    if not stored or not password:
        return False
    if stored.startswith(_HASH_PREFIXES):
        try:
            return check_password_hash(stored, password)
        except ValueError:  # a damaged hash (load_credentials refuses those at the start)
            return False
    return hmac.compare_digest(stored.encode(), password.encode())


def load_credentials(data_root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The dashboard's users: user name -> password hash (plain password from the environment).

    Plain passwords in the users file are replaced by their hashes (see the module docstring);
    :func:`load_accounts` gives the roles too.

    Raises
    ------
    ConfigError
        When neither the environment nor the users file gives a login, or the file is malformed.
    """
    return {name: account.password for name, account in load_accounts(data_root, environ).items()}


def load_accounts(data_root: Path, environ: Mapping[str, str] | None = None) -> dict[str, Account]:
    """The dashboard's users with their roles (the environment's user is an energy manager).

    Raises
    ------
    ConfigError
        When neither the environment nor the users file gives a login, or the file is malformed.
    """
    env = os.environ if environ is None else environ
    user, password = env.get(ENV_USER, ""), env.get(ENV_PASSWORD, "")
    if user and password:
        return {user: Account(password)}
    if user or password:
        raise ConfigError(f"set both {ENV_USER} and {ENV_PASSWORD} (only one is set)", field=ENV_USER)
    path = Path(data_root) / USERS_FILE
    if not path.is_file():
        raise ConfigError(
            f"no dashboard login: set {ENV_USER} and {ENV_PASSWORD}, or add a user with "
            f"'twin users add NAME' (writes {path})",
            file=str(path),
        )
    accounts = _read_users_file(path)
    plain = sorted(name for name, account in accounts.items() if not account.password.startswith(_HASH_PREFIXES))
    if not plain:
        return accounts
    hashed = {
        name: account if name not in plain else Account(hash_password(account.password), account.role)
        for name, account in accounts.items()
    }
    try:
        _write_users_file(path, hashed)
    except OSError as err:
        logger.warning("%s holds plain passwords (%s) and cannot be rewritten with hashes: %s", path, len(plain), err)
        return accounts
    logger.warning("%s: replaced the plain passwords of %s by their hashes", path, ", ".join(plain))
    return hashed


def add_user(data_root: Path, name: str, password: str, role: str = MANAGER) -> Path:
    """Add the user ``name`` (or set its password and role) in the users file, storing the password's hash.

    Returns
    -------
    Path
        The users file (created with mode 0600 if missing).

    Raises
    ------
    ConfigError
        When the name, role or password is not acceptable or the users file is malformed.
    """
    path = Path(data_root) / USERS_FILE
    if not name or ":" in name or name != name.strip() or any(ch.isspace() for ch in name):
        raise ConfigError("a user name is one word without ':'", field="NAME")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", field="--role", allowed=", ".join(ROLES))
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password is shorter than {MIN_PASSWORD_CHARS} characters", field="password")
    accounts = _read_users_file(path) if path.is_file() else {}
    accounts[name] = Account(hash_password(password), role)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    _write_users_file(path, accounts)
    return path


def remove_user(data_root: Path, name: str) -> Path:
    """Remove the user ``name`` from the users file.

    Raises
    ------
    ConfigError
        When there is no users file or no such user, or it is the last user.
    """
    path = Path(data_root) / USERS_FILE
    if not path.is_file():
        raise ConfigError("no users file", file=str(path))
    accounts = _read_users_file(path)
    if name not in accounts:
        raise ConfigError("no such user", file=str(path), field=name)
    if len(accounts) == 1:
        raise ConfigError("the last user cannot be removed (the dashboard would have no login)", field=name)
    del accounts[name]
    _write_users_file(path, accounts)
    return path


def list_users(data_root: Path) -> dict[str, str]:
    """User name -> role of the users file (no passwords)."""
    path = Path(data_root) / USERS_FILE
    if not path.is_file():
        raise ConfigError("no users file", file=str(path))
    return {name: account.role for name, account in _read_users_file(path).items()}


def password_checker(users: Mapping[str, str]) -> Callable[[str, str], bool]:
    """A constant-time check of a user's password against its hash (or plain password).

    Unknown users cost a hash check as well, so the time of an answer does not tell which
    user names exist. Successful checks are remembered by an HMAC of user and password under
    a key of this checker (kept in memory only).
    """
    known = dict(users)
    decoy = hash_password(os.urandom(16).hex())
    key = os.urandom(32)
    remembered: OrderedDict[bytes, None] = OrderedDict()
    lock = threading.Lock()

    def check(username: str, password: str) -> bool:
        credentials = f"{len(username)}:{username}:{password}".encode(errors="surrogateescape")
        token = hmac.new(key, credentials, hashlib.sha256).digest()
        with lock:
            if token in remembered:
                remembered.move_to_end(token)
                return True
        stored = known.get(username)
        if stored is None:
            verify_password(decoy, password or "-")
            return False
        if not verify_password(stored, password):
            return False
        with lock:
            remembered[token] = None
            while len(remembered) > _REMEMBERED:
                remembered.popitem(last=False)
        return True

    return check


def parse_basic(header: str) -> tuple[str, str] | None:
    """User and password of an ``Authorization`` header; ``None`` for another scheme.

    Raises
    ------
    MalformedCredentialsError
        When a Basic header is not base64 of ``user:password`` in UTF-8.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as err:
        raise MalformedCredentialsError("the Basic credentials are not base64 of UTF-8 text") from err
    user, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedCredentialsError("the Basic credentials lack the ':' between user and password")
    return user, password


def install_login(
    server: Flask,
    check: Callable[[str, str], bool],
    throttle: LoginThrottle,
    *,
    callbacks: Callable[[], Mapping[str, Any]] | None = None,
    public_routes: list[str] | None = None,
    roles: Mapping[str, str] | None = None,
) -> None:
    """Guard every route of ``server`` but the public ones with the login (see the module docstring).

    Parameters
    ----------
    server : flask.Flask
        The Dash app's server.
    check : callable
        ``check(user, password) -> bool`` (:func:`password_checker`).
    throttle : LoginThrottle
        The failed-login limit per address.
    callbacks : callable, optional
        Returns the app's ``callback_map`` (Dash adds to it at the first request): a callback
        request that names none of them, or does not have its shape, is refused (400).
    public_routes : list of str, optional
        Paths served without the login; default :data:`PUBLIC_ROUTES`.
    roles : mapping of str to str, optional
        User -> role (:data:`ROLES`); a user not named is an energy manager. A viewer's request
        that could change something is answered 403: any method but GET, HEAD and OPTIONS
        outside the callback route, and the callbacks registered with :func:`manager_only`.
    """
    public = set(PUBLIC_ROUTES if public_routes is None else public_routes)
    role_of = dict(roles or {})
    server.config.setdefault(MANAGER_ONLY_KEY, set())

    @server.before_request
    def _login() -> Response | None:
        if request.path in public:
            return None
        header = request.headers.get("Authorization")
        if not header:
            return _challenge()
        try:
            credentials = parse_basic(header)
        except MalformedCredentialsError as err:
            return Response(f"Bad request: {err}\n", status=400, mimetype="text/plain")
        if credentials is None:
            return _challenge()
        address = request.remote_addr or "-"
        wait_s = throttle.take(address)
        if wait_s > 0:
            return _too_many(wait_s)
        user, password = credentials
        if check(user, password):
            throttle.give_back(address)
            g.twin_user, g.twin_role = user, role_of.get(user, MANAGER)
        else:
            wait_s = throttle.retry_after_s(address)
            shown = repr(user[:_LOGGED_USER_CHARS]) + ("..." if len(user) > _LOGGED_USER_CHARS else "")
            pause = f"; its logins are refused for {LoginThrottle.retry_after_header(wait_s)} s" if wait_s else ""
            logger.warning("dashboard login failed from %s as user %s%s", address, shown, pause)
            return _challenge()
        if request.path == CALLBACK_ROUTE and callbacks is not None:
            problem = callback_problem(request.get_json(silent=True), callbacks())
            if problem:
                return Response(f"Bad request: {problem}\n", status=400, mimetype="text/plain")
        if g.twin_role != MANAGER and _changes_something(server):
            logger.warning("dashboard: %s (role %s) refused: %s %s", user, g.twin_role, request.method, request.path)
            return Response(
                f"Forbidden: the role {g.twin_role} cannot change anything\n", status=403, mimetype="text/plain"
            )
        return None


def manager_only(server: Flask, output: str) -> None:
    """Let only energy managers run the callback whose output key is ``output`` (viewers get 403)."""
    server.config.setdefault(MANAGER_ONLY_KEY, set()).add(output)


def current_user() -> tuple[str, str]:
    """User name and role of the current request (empty name and viewer outside a logged-in request)."""
    if not has_request_context():
        return "", VIEWER
    return str(g.get("twin_user", "")), str(g.get("twin_role", VIEWER))


def _changes_something(server: Flask) -> bool:
    """Whether the request could change something: not a plain read, or a manager-only callback."""
    if request.path == CALLBACK_ROUTE:
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        return output in server.config.get(MANAGER_ONLY_KEY, set())
    return request.method not in _READ_METHODS


def callback_problem(body: Any, callback_map: Mapping[str, Any]) -> str:
    """Why ``body`` is not a callback request of this app; empty when it is one.

    Checks the shape Dash's dispatcher relies on: a JSON object naming a known ``output``,
    with lists ``inputs`` (and ``state``) of the callback's length whose items are objects
    with ``id`` and ``property`` (or lists of them, for pattern-matching inputs).
    """
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "'output' names no callback of this app"
    spec = callback_map[output]
    for name in ("inputs", "state"):
        items = body.get(name, [])
        expected = len(spec.get(name, []))
        if not isinstance(items, list) or len(items) != expected:
            return f"'{name}' must be a list of {expected} item(s)"
        for item in items:
            group = item if isinstance(item, list) else [item]
            if not all(isinstance(i, dict) and "id" in i and isinstance(i.get("property"), str) for i in group):
                return f"'{name}' items must be objects with 'id' and 'property'"
    outputs = body.get("outputs", [])
    flat = outputs if isinstance(outputs, list) else [outputs]
    for item in flat:
        group = item if isinstance(item, list) else [item]
        if not all(isinstance(i, dict) and "id" in i and isinstance(i.get("property"), str) for i in group):
            return "'outputs' items must be objects with 'id' and 'property'"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings"
    return ""


def _challenge() -> Response:
    return Response("Login required\n", status=401, mimetype="text/plain", headers={"WWW-Authenticate": _REALM})


def _too_many(wait_s: float) -> Response:
    seconds = LoginThrottle.retry_after_header(wait_s)
    return Response(
        f"Too many failed logins from this address: try again in {seconds} s\n",
        status=429,
        mimetype="text/plain",
        headers={"Retry-After": seconds},
    )


def _replace_keeping_mode(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with the old file's permission bits."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_users_file(path: Path) -> dict[str, Account]:
    """The accounts of a users file (plain passwords as they are); a damaged file is a ConfigError."""
    try:
        users = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot be read: {err}", file=str(path)) from err
    except ValueError as err:
        raise ConfigError(f"not valid JSON: {err}", file=str(path)) from err
    if not isinstance(users, dict) or not users or not all(isinstance(k, str) and k for k in users):
        raise ConfigError(_FILE_SHAPE, file=str(path))
    accounts: dict[str, Account] = {}
    for name, value in users.items():
        if isinstance(value, dict):
            password, role = value.get("password"), value.get("role", MANAGER)
        else:
            password, role = value, MANAGER
        if not isinstance(password, str) or not password:
            raise ConfigError(_FILE_SHAPE, file=str(path), field=name)
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}", file=str(path), field=name, allowed=", ".join(ROLES))
        if password.startswith(_HASH_PREFIXES):
            try:
                check_password_hash(password, "")
            except ValueError as err:
                raise ConfigError(f"not a password hash of werkzeug ({err})", file=str(path), field=name) from err
        accounts[name] = Account(password, role)
    return accounts


def _write_users_file(path: Path, accounts: Mapping[str, Account]) -> None:
    """Write the accounts (managers as ``"name": "hash"``, others with their role), keeping the file's mode."""
    data = {
        name: account.password if account.role == MANAGER else {"password": account.password, "role": account.role}
        for name, account in accounts.items()
    }
    _replace_keeping_mode(path, json.dumps(data, indent=2) + "\n")
