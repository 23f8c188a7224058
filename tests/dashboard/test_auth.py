"""Login, public health check and authenticated downloads through Flask's test client."""

from __future__ import annotations

import base64
import io
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from werkzeug.security import generate_password_hash

from dashboard import create_app
from dashboard.auth import load_credentials, password_checker
from tests.dashboard.conftest import USERS
from twin.core.errors import ConfigError
from twin.demo import demo_login


def _auth(user: str = "manager", password: str = USERS["manager"]) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def client(data_root: Path):
    return create_app(data_root, credentials=USERS).server.test_client()


def test_every_page_needs_the_login(client) -> None:
    for path in ("/", "/buildings", "/year", "/grid", "/scenarios"):
        assert client.get(path).status_code == 401
    assert client.get("/", headers=_auth(password="wrong")).status_code == 401
    assert client.get("/", headers=_auth(user="nobody")).status_code == 401
    response = client.get("/year", headers=_auth())
    assert response.status_code == 200 and b"Beucha district twin" in response.data


def test_healthz_is_public(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "snapshot": True,
        "sim_time_utc": "2025-06-03T10:00:00Z",  # as the snapshot type writes UTC times
        "timeline_start_utc": None,  # a snapshot of a store written before the timeline was kept
        "results": 2,
    }


def test_layout_carries_no_data(client) -> None:
    # the layout must be a skeleton without numbers: data come only through callbacks
    layout = client.get("/_dash-layout", headers=_auth()).get_data(as_text=True)
    assert "b2/pv0" not in layout and "surplus" not in layout and "12.5" not in layout


def test_downloads_need_the_login_and_serve_csv_and_netcdf(client, tmp_path: Path) -> None:
    assert client.get("/download/baseline/result.nc").status_code == 401
    assert client.get("/download/baseline/kpis.csv").status_code == 401
    nc = client.get("/download/baseline/result.nc", headers=_auth())
    assert nc.status_code == 200 and nc.headers["Content-Type"] == "application/x-netcdf"
    (tmp_path / "r.nc").write_bytes(nc.data)
    with xr.open_dataset(tmp_path / "r.nc") as ds:
        assert ds.sizes["time"] == 192
    series = pd.read_csv(
        io.StringIO(client.get("/download/more_pv/timeseries.csv", headers=_auth()).get_data(as_text=True))
    )
    assert list(series.columns) == ["time_utc", "p_grid_kw [kW]", "p_loss_kw [kW]"] and len(series) == 192
    kpis = client.get("/download/baseline/kpis.csv", headers=_auth()).get_data(as_text=True)
    assert kpis.startswith("kpi,value") and "self_sufficiency_frac,0.3" in kpis
    for path in ("/download/nothere/result.nc", "/download/baseline/net.json"):
        assert client.get(path, headers=_auth()).status_code == 404
    traversal = client.get("/download/..%2Flive/kpis.csv", headers=_auth())  # resolves to a page, never a file
    assert traversal.status_code in (200, 404) and traversal.mimetype == "text/html"


def test_credentials_from_the_environment_or_the_users_file(tmp_path: Path) -> None:
    env = {"TWIN_DASHBOARD_USER": "em", "TWIN_DASHBOARD_PASSWORD": "pw"}
    assert load_credentials(tmp_path, env) == {"em": "pw"}
    with pytest.raises(ConfigError, match="TWIN_DASHBOARD_USER and TWIN_DASHBOARD_PASSWORD"):
        load_credentials(tmp_path, {})
    with pytest.raises(ConfigError, match="only one is set"):
        load_credentials(tmp_path, {"TWIN_DASHBOARD_USER": "em"})
    (tmp_path / "dashboard-users.json").write_text(json.dumps({"a": "x", "b": generate_password_hash("y")}))
    users = load_credentials(tmp_path, {})
    check = password_checker(users)
    assert check("a", "x") and check("b", "y")
    assert not check("a", "y") and not check("b", "x") and not check("c", "x") and not check("a", "")
    (tmp_path / "dashboard-users.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected"):
        load_credentials(tmp_path, {})


def test_create_app_without_login_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWIN_DASHBOARD_USER", raising=False)
    monkeypatch.delenv("TWIN_DASHBOARD_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="no dashboard login"):
        create_app(tmp_path)


def test_callback_through_the_server(client) -> None:
    """A live-page callback as the browser calls it: data only with the login."""
    body = {
        "output": "..live-status.children...live-alerts.children...live-tiles.children...live-health.children..."
        "live-sankey.figure...live-history.figure...live-downloads.children..",
        "outputs": [
            {"id": i, "property": p}
            for i, p in [
                ("live-status", "children"),
                ("live-alerts", "children"),
                ("live-tiles", "children"),
                ("live-health", "children"),
                ("live-sankey", "figure"),
                ("live-history", "figure"),
                ("live-downloads", "children"),
            ]
        ],
        "inputs": [
            {"id": "live-interval", "property": "n_intervals", "value": 1},
            {"id": "live-period", "property": "value", "value": "day"},
            {"id": "live-until", "property": "date", "value": None},
        ],
        "changedPropIds": ["live-interval.n_intervals"],
        "state": [],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 401
    response = client.post("/_dash-update-component", json=body, headers=_auth())
    assert response.status_code == 200
    assert "surplus" in response.get_data(as_text=True)
    # dash-auth 2.3.0 alone would run this forged callback without a login (a "pathname" input
    # naming a public route); the app's own hook refuses it
    forged = {
        **body,
        "inputs": [{"id": "live-interval", "property": "pathname", "value": "/healthz"}, *body["inputs"][1:]],
    }
    assert client.post("/_dash-update-component", json=forged).status_code == 401


def test_bundles_are_registered_before_any_request(data_root: Path) -> None:
    """Every worker forked from the app serves the JS bundles, not only one that rendered the index."""
    app = create_app(data_root, credentials=USERS)
    assert "dash-renderer/build/dash_renderer.min.js" in app.registered_paths["dash"]
    bundle = "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.min.js"
    assert app.server.test_client().get(bundle, headers=_auth()).status_code == 200


def test_plain_passwords_in_the_users_file_are_replaced_by_hashes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "dashboard-users.json"
    path.write_text(json.dumps({"a": "plain secret", "b": generate_password_hash("y")}))
    path.chmod(0o600)
    with caplog.at_level("WARNING", logger="dashboard.auth"):
        users = load_credentials(tmp_path, {})
    stored = json.loads(path.read_text())
    assert "plain secret" not in path.read_text()
    assert stored["a"].startswith("scrypt:") and users == stored
    assert (path.stat().st_mode & 0o777) == 0o600
    assert "replaced the plain passwords of a" in caplog.text and "plain secret" not in caplog.text
    check = password_checker(load_credentials(tmp_path, {}))
    assert check("a", "plain secret") and check("b", "y") and not check("a", "plain secre")
    assert json.loads(path.read_text()) == stored  # hashed once, not again
    assert [p.name for p in tmp_path.iterdir()] == ["dashboard-users.json"]  # no temporary file left


def test_a_users_file_that_cannot_be_rewritten_still_logs_in(tmp_path: Path) -> None:
    """A file-size limit of 0 makes every write fail (for root too): the plain login still works."""
    path = tmp_path / "dashboard-users.json"
    path.write_text(json.dumps({"a": "plain secret"}))
    script = (
        "import logging, pathlib, sys\n"
        "from dashboard.auth import load_credentials, password_checker\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "users = load_credentials(pathlib.Path(sys.argv[1]), {})\n"
        "print('login ok' if password_checker(users)('a', 'plain secret') else 'login refused')\n"
    )

    def no_file_growth() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=no_file_growth,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "login ok"
    assert "cannot be rewritten" in result.stderr and "plain secret" not in result.stderr
    assert json.loads(path.read_text()) == {"a": "plain secret"}  # left as it was, not torn
    assert [p.name for p in tmp_path.iterdir()] == ["dashboard-users.json"]  # no temporary file left


def test_the_demo_login_is_stored_as_a_hash_and_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWIN_DASHBOARD_USER", raising=False)
    monkeypatch.delenv("TWIN_DASHBOARD_PASSWORD", raising=False)
    user, password = demo_login(tmp_path)
    users_file = tmp_path / "dashboard-users.json"
    text = users_file.read_text()
    assert password not in text and json.loads(text)[user].startswith("scrypt:")
    assert password_checker(load_credentials(tmp_path, {}))(user, password)
    assert demo_login(tmp_path) == (user, password) and users_file.read_text() == text  # a restart keeps both
    client = create_app(tmp_path).server.test_client()
    assert client.get("/scenarios", headers=_auth(user, password)).status_code == 200


def test_unknown_users_cost_a_hash_check_too() -> None:
    """No shortcut for a user name that does not exist: the answer time does not tell which exist."""
    check = password_checker({"a": generate_password_hash("x")})
    start = time.perf_counter()
    assert not check("nobody", "x")
    unknown_s = time.perf_counter() - start
    start = time.perf_counter()
    assert not check("a", "y")
    known_s = time.perf_counter() - start
    assert unknown_s > 0.3 * known_s


def test_a_malformed_authorization_header_is_400_without_a_traceback(client, caplog: pytest.LogCaptureFixture) -> None:
    for header in ("Basic", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert client.get("/", headers={"Authorization": header}).status_code == 400
    assert client.get("/", headers={"Authorization": "Bearer x"}).status_code == 401
    assert "Traceback" not in caplog.text and "Exception on" not in caplog.text


def test_a_damaged_hash_in_the_users_file_is_a_config_error(tmp_path: Path) -> None:
    for damaged in ("scrypt:x$s$h", "pbkdf2:sha256:abc$s$h", "pbkdf2:md99$s$h"):
        (tmp_path / "dashboard-users.json").write_text(json.dumps({"a": damaged}))
        with pytest.raises(ConfigError, match=r"dashboard-users.json: a: not a password hash"):
            load_credentials(tmp_path, {})
        assert not password_checker({"a": damaged})("a", "x")  # given directly: refused, no server error
