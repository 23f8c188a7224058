"""Roles: the energy manager changes what the dashboard lets change, the viewer only reads; ``twin users``."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from dash import Input, Output

from dashboard import create_app
from dashboard.auth import MANAGER, VIEWER, Account, load_accounts, manager_only, password_checker
from twin.core.errors import ConfigError

MANAGER_PW = "manager password 1"
VIEWER_PW = "viewer password 1"
ACCOUNTS = {"em": Account(MANAGER_PW), "guest": Account(VIEWER_PW, VIEWER)}
#: A callback that changes something (as a setpoint form would), registered as manager-only.
CHANGE = {
    "output": "role-test-out.children",
    "outputs": {"id": "role-test-out", "property": "children"},
    "inputs": [{"id": "role-test-in", "property": "n_clicks", "value": 1}],
    "changedPropIds": ["role-test-in.n_clicks"],
    "state": [],
}


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


MANAGER_AUTH, VIEWER_AUTH = _auth("em", MANAGER_PW), _auth("guest", VIEWER_PW)


@pytest.fixture
def app(data_root: Path):
    app = create_app(data_root, credentials=ACCOUNTS)
    changed: list[int] = []

    @app.callback(Output("role-test-out", "children"), Input("role-test-in", "n_clicks"))
    def _change(n: int) -> str:
        changed.append(n)
        return f"changed {n}"

    manager_only(app.server, "role-test-out.children")
    app.changed = changed  # type: ignore[attr-defined]
    return app


def test_both_roles_read_pages_callbacks_and_the_api(app) -> None:
    client = app.server.test_client()
    for auth in (MANAGER_AUTH, VIEWER_AUTH):
        assert client.get("/scenarios", headers=auth).status_code == 200
        assert client.get("/api/v1/snapshot", headers=auth).status_code == 200
        assert client.get("/download/baseline/kpis.csv", headers=auth).status_code == 200


def test_the_viewer_cannot_run_a_callback_that_changes_something(app) -> None:
    client = app.server.test_client()
    refused = client.post("/_dash-update-component", json=CHANGE, headers=VIEWER_AUTH)
    assert refused.status_code == 403 and "viewer" in refused.get_data(as_text=True)
    assert app.changed == []
    done = client.post("/_dash-update-component", json=CHANGE, headers=MANAGER_AUTH)
    assert done.status_code == 200 and "changed 1" in done.get_data(as_text=True)
    assert app.changed == [1]


def test_the_viewer_cannot_write_through_the_api(app) -> None:
    client = app.server.test_client()
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/api/v1/snapshot", headers=VIEWER_AUTH).status_code == 403
        assert getattr(client, method)("/api/v1/snapshot", headers=MANAGER_AUTH).status_code == 405  # read-only API
    assert client.post("/api/v1/snapshot").status_code == 401  # no login: no role either


def test_the_header_names_user_and_role(app) -> None:
    client = app.server.test_client()
    viewer = json.dumps(client.get("/_dash-layout", headers=VIEWER_AUTH).get_json())
    manager = json.dumps(client.get("/_dash-layout", headers=MANAGER_AUTH).get_json())
    assert "angemeldet als guest (nur lesen)" in viewer and "role-viewer" in viewer
    assert "angemeldet als em (Energiemanager)" in manager and "role-manager" in manager


def _twin(twin_exe: Path, root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_DASHBOARD_")}
    return subprocess.run(
        [str(twin_exe), "--data-root", str(root), "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_twin_users_add_list_remove(twin_exe: Path, tmp_path: Path) -> None:
    added = _twin(twin_exe, tmp_path, "add", "anna", "--role", "viewer", stdin="anna's long password\n")
    assert added.returncode == 0, added.stderr
    assert _twin(twin_exe, tmp_path, "add", "bernd", stdin="bernd's long password\n").returncode == 0
    path = tmp_path / "dashboard-users.json"
    text = path.read_text()
    assert "long password" not in text and (path.stat().st_mode & 0o777) == 0o600
    assert json.loads(text)["anna"]["role"] == VIEWER and json.loads(text)["bernd"].startswith("scrypt:")
    assert _twin(twin_exe, tmp_path, "list").stdout.split() == ["anna", "viewer", "bernd", "manager"]
    accounts = load_accounts(tmp_path, {})
    assert {name: a.role for name, a in accounts.items()} == {"anna": VIEWER, "bernd": MANAGER}
    check = password_checker({name: a.password for name, a in accounts.items()})
    assert check("anna", "anna's long password") and not check("anna", "bernd's long password")
    client = create_app(tmp_path).server.test_client()
    assert client.post("/api/v1/snapshot", headers=_auth("anna", "anna's long password")).status_code == 403
    assert client.get("/", headers=_auth("anna", "anna's long password")).status_code == 200
    assert _twin(twin_exe, tmp_path, "remove", "anna").returncode == 0
    assert _twin(twin_exe, tmp_path, "list").stdout.split() == ["bernd", "manager"]
    last = _twin(twin_exe, tmp_path, "remove", "bernd")
    assert last.returncode == 2 and "last user" in last.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "carla", "--role", "admin"), "a long password\n", "--role: unknown role 'admin'"),
        (("add", "carla"), "short\n", "shorter than 10 characters"),
        (("add", "carla"), "", "no password on stdin"),
        (("add", "car la"), "a long password\n", "one word"),
        (("remove", "nobody"), "", "no users file"),
    ],
)
def test_twin_users_bad_input_exits_2(twin_exe: Path, tmp_path: Path, args, stdin: str, message: str) -> None:
    result = _twin(twin_exe, tmp_path, *args, stdin=stdin)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "dashboard-users.json").exists()


def test_a_plain_password_of_a_viewer_is_hashed_and_the_role_kept(tmp_path: Path) -> None:
    path = tmp_path / "dashboard-users.json"
    path.write_text(json.dumps({"em": "manager secret", "guest": {"password": "guest secret", "role": "viewer"}}))
    accounts = load_accounts(tmp_path, {})
    stored = json.loads(path.read_text())
    assert "secret" not in path.read_text()
    assert stored["guest"]["role"] == VIEWER and stored["guest"]["password"].startswith("scrypt:")
    assert accounts["guest"].role == VIEWER and accounts["em"].role == MANAGER
    assert password_checker({n: a.password for n, a in accounts.items()})("guest", "guest secret")


@pytest.mark.parametrize(
    "users",
    [{"a": {"password": "x", "role": "admin"}}, {"a": {"role": "viewer"}}, {"a": 3}],
)
def test_a_bad_role_or_entry_in_the_users_file_is_a_config_error(tmp_path: Path, users: dict) -> None:
    (tmp_path / "dashboard-users.json").write_text(json.dumps(users))
    with pytest.raises(ConfigError, match=r"dashboard-users.json"):
        load_accounts(tmp_path, {})
