"""``twin dashboard``: gunicorn on 127.0.0.1, /healthz public, the rest behind the login."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.sample import write_all


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_DASHBOARD_")}
    return {**env, **extra}


def test_dashboard_without_login_exits_2(twin_exe: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [twin_exe, "--data-root", tmp_path, "dashboard"], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert result.returncode == 2
    assert "no dashboard login" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_dashboard_serves_with_gunicorn(twin_exe: Path, tmp_path: Path) -> None:
    write_all(tmp_path)
    port = _free_port()
    env = _env(TWIN_DASHBOARD_USER="em", TWIN_DASHBOARD_PASSWORD="pw")
    process = subprocess.Popen(
        [twin_exe, "--data-root", tmp_path, "dashboard", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _status(base + "/healthz") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the dashboard did not answer within 30 s"
            time.sleep(0.2)
        assert _status(base + "/") == 401
        assert _status(base + "/download/baseline/kpis.csv") == 401
        token = base64.b64encode(b"em:pw").decode()
        assert _status(base + "/scenarios", {"Authorization": f"Basic {token}"}) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0


def test_dashboard_with_a_bad_district_exits_2(twin_exe: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = subprocess.run(
        [twin_exe, "--data-root", tmp_path, "dashboard", "--district", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(TWIN_DASHBOARD_USER="em", TWIN_DASHBOARD_PASSWORD="pw"),
    )
    assert result.returncode == 2
    assert "nowhere.yaml" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_public_page_with_the_districts_households(twin_exe: Path, tmp_path: Path) -> None:
    """Served by gunicorn without a login; the built-in district's households make the quarter publishable."""
    write_all(tmp_path)
    port = _free_port()
    env = _env(TWIN_DASHBOARD_USER="em", TWIN_DASHBOARD_PASSWORD="pw")
    command = [twin_exe, "--data-root", tmp_path, "dashboard", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--district", "beucha"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _status(base + "/healthz") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the dashboard did not answer within 30 s"
            time.sleep(0.2)
        with urllib.request.urlopen(base + "/public/", timeout=10) as response:
            page = response.read().decode("utf-8")
        assert "Eigenversorgung heute" in page and "42 %" in page
        assert _status(base + "/") == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
