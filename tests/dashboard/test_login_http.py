"""The login of ``twin dashboard`` over real HTTP(S) against gunicorn: throttling, malformed requests, TLS."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.certs import make_test_certs
from dashboard.throttle import BURST, PER_MINUTE
from tests.dashboard.sample import write_all

pytestmark = pytest.mark.e2e

USER, PASSWORD = "em", "a long password"
WRONG = "guess-0815"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    tls: ssl.SSLContext | None = None

    def request(
        self,
        path: str,
        *,
        auth: str | None = None,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        source: str = "127.0.0.1",
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection from ``source``; status, headers and body."""
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = auth
        if self.tls is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=10, source_address=(source, 0), context=self.tls
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        return self.log.read_text(errors="replace")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(twin_exe: Path, root: Path, *extra: str, tls: ssl.SSLContext | None = None) -> Server:
    write_all(root)
    port, log = _free_port(), root / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_DASHBOARD_")}
    env.update(TWIN_DASHBOARD_USER=USER, TWIN_DASHBOARD_PASSWORD=PASSWORD)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [twin_exe, "--data-root", root, "dashboard", "--port", str(port), "--workers", "2", *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
    server = Server(process, port, log, tls)
    deadline = time.monotonic() + 40
    while True:
        try:
            if server.request("/healthz")[0] == 200:
                return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the dashboard did not start: {server.stop()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(twin_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = _start(twin_exe, tmp_path_factory.mktemp("dashboard"))
    yield started
    started.stop()


def test_wrong_passwords_are_throttled_per_address_and_logged(server: Server) -> None:
    """500 wrong passwords from one address: at most BURST + PER_MINUTE/min are checked, the rest get 429.

    So 500 guesses need at least (500 - BURST) * 60 / PER_MINUTE s; the right password works
    from another address at once and from the guessing one after Retry-After.
    """
    assert (500 - BURST) * 60.0 / PER_MINUTE >= 60.0
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:  # new connections, spread over both workers
        answers = list(pool.map(lambda _: server.request("/", auth=basic("intruder", WRONG)), range(500)))
    took_s = time.monotonic() - start
    statuses = [status for status, _, _ in answers]
    checked = statuses.count(401)
    assert set(statuses) == {401, 429}
    assert BURST <= checked <= BURST + int(took_s * PER_MINUTE / 60.0) + 1, (checked, took_s)
    retry_after = [int(headers["Retry-After"]) for status, headers, _ in answers if status == 429]
    assert len(retry_after) == 500 - checked and all(1 <= r <= 60 / PER_MINUTE for r in retry_after)
    # the right password is not checked either while the address is held, another address is served
    assert server.request("/", auth=basic(USER, PASSWORD))[0] == 429
    assert server.request("/", auth=basic(USER, PASSWORD), source="127.0.0.2")[0] == 200
    deadline = time.monotonic() + 60 / PER_MINUTE + 5
    while True:
        status, headers, _ = server.request("/", auth=basic(USER, PASSWORD))
        if status == 200:
            break
        assert status == 429 and time.monotonic() < deadline, status
        time.sleep(min(float(headers["Retry-After"]), max(deadline - time.monotonic(), 0.0)))
    # one log line per checked password, with address and user, never the password
    log = server.log.read_text(errors="replace")
    failed = [line for line in log.splitlines() if "login failed" in line]
    assert len(failed) == checked
    assert all("127.0.0.1" in line and "'intruder'" in line for line in failed)
    assert WRONG not in log and PASSWORD not in log and "Traceback" not in log


def _callback(output: str = "..year-tiles.children...year-cumulative.figure...year-monthly.figure..") -> dict:
    return {
        "output": output,
        "outputs": [
            {"id": "year-tiles", "property": "children"},
            {"id": "year-cumulative", "property": "figure"},
            {"id": "year-monthly", "property": "figure"},
        ],
        "inputs": [{"id": "year-interval", "property": "n_intervals", "value": 0}],
        "changedPropIds": ["year-interval.n_intervals"],
        "state": [],
    }


MALFORMED_HEADERS = [
    "Basic",
    "Basic ",
    "Basic !!!not base64",
    "Basic " + base64.b64encode(b"no colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
    "Bearer abc",
    "Digest username=em",
    "basic",
    "Basic " + "A" * 6000,
]
MALFORMED_BODIES = [
    (b"", "application/json"),
    (b"", None),
    (b"{}", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b"not json", "application/json"),
    (json.dumps({"output": 1}).encode(), "application/json"),
    (json.dumps({"output": "nothere.children"}).encode(), "application/json"),
    (json.dumps({**_callback(), "inputs": []}).encode(), "application/json"),
    (json.dumps({**_callback(), "inputs": [1]}).encode(), "application/json"),
    (json.dumps({**_callback(), "inputs": "x"}).encode(), "application/json"),
    (json.dumps({**_callback(), "state": None}).encode(), "application/json"),
    (json.dumps({**_callback(), "outputs": [7]}).encode(), "application/json"),
    (json.dumps({**_callback(), "changedPropIds": [1]}).encode(), "application/json"),
]


def test_malformed_requests_get_400_or_401_without_a_traceback(server: Server) -> None:
    source = "127.0.0.3"  # not the address the throttling test holds up
    for header in MALFORMED_HEADERS:
        status = server.request("/year", auth=header, source=source)[0]
        assert status in (400, 401), (header[:40], status)
        assert server.request("/_dash-update-component", method="POST", auth=header, source=source)[0] in (400, 401)
    for body, content_type in MALFORMED_BODIES:
        headers = {"Content-Type": content_type} if content_type else {}
        for auth in (None, basic(USER, PASSWORD)):
            status = server.request(
                "/_dash-update-component", method="POST", body=body, headers=headers, auth=auth, source=source
            )[0]
            assert status == (401 if auth is None else 400), (body[:60], auth is None, status)
    # a well-formed callback still runs
    status, _, data = server.request(
        "/_dash-update-component",
        method="POST",
        body=json.dumps(_callback()).encode(),
        headers={"Content-Type": "application/json"},
        auth=basic(USER, PASSWORD),
        source=source,
    )
    assert status == 200 and b"year-tiles" in data
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and " 500 " not in log and "Exception on" not in log


def test_dashboard_serves_https_with_certfile_and_keyfile(twin_exe: Path, tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    context = ssl.create_default_context(cafile=str(certs.writer_ca))
    server = _start(
        twin_exe,
        tmp_path / "data",
        "--certfile",
        str(certs.server_cert),
        "--keyfile",
        str(certs.server_key),
        tls=context,
    )
    try:
        status, _, body = server.request("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert server.request("/scenarios")[0] == 401
        assert server.request("/scenarios", auth=basic(USER, PASSWORD))[0] == 200
        # plain HTTP on the same port gets no page
        plain = Server(server.process, server.port, server.log)
        with pytest.raises((OSError, http.client.HTTPException)):
            assert plain.request("/healthz")[0] != 200
    finally:
        log = server.stop()
    assert "https://127.0.0.1" in log and "Traceback" not in log


def test_bad_certificate_options_exit_2(twin_exe: Path, tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_DASHBOARD_")}
    env.update(TWIN_DASHBOARD_USER=USER, TWIN_DASHBOARD_PASSWORD=PASSWORD)
    cases = {
        "go together": ["--certfile", str(certs.server_cert)],
        "no such file": ["--certfile", str(certs.server_cert), "--keyfile", str(tmp_path / "missing.pem")],
        "not a PEM certificate": ["--certfile", str(certs.writer_ca), "--keyfile", str(certs.server_key)],
    }
    for expected, options in cases.items():
        result = subprocess.run(
            [twin_exe, "--data-root", tmp_path, "dashboard", "--port", str(_free_port()), *options],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 2, (expected, result.stderr)
        assert re.search(expected, result.stderr) and "Traceback" not in result.stderr
