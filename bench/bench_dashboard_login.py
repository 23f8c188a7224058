"""Failed-login limit of ``twin dashboard`` measured over HTTP: guesses checked per minute, and what a login costs.

Starts ``twin dashboard`` (gunicorn, 2 workers x 4 threads) on a sample data root whose users
file holds a plain password (hashed when the dashboard starts), and

* guesses passwords from 127.0.0.1 with 4 threads on kept-alive connections for ``--seconds``
  (default 70): counts the passwords the server checked (401) and refused (429), the most
  checks within any 60 s, and the time 500 guesses take at the measured rate;
* afterwards logs in with the right password from 127.0.0.1 once ``Retry-After`` has passed;
* times requests with the right password from 127.0.0.2 (the first ones check the hash, later
  ones hit the worker's memory of successful logins), against the public ``/healthz``.

    .venv/bin/python bench/bench_dashboard_login.py [--seconds 70]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.dashboard.sample import write_all

USER, PASSWORD = "em", "a long password"


def _token(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _request(port: int, path: str, auth: str | None, source: str = "127.0.0.1") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Authorization": auth} if auth else {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After") or ""
    finally:
        conn.close()


def _guess(port: int, stop: float, start: float, checked_at: list[float], refused: list[int]) -> None:
    """Wrong passwords on one kept-alive connection (new ones per request would exhaust the ports)."""
    n, conn = 0, http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        n += 1
        try:
            conn.request("GET", "/", headers={"Authorization": _token("intruder", f"guess-{id(conn)}-{n}")})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if response.status == 401:
            checked_at.append(time.monotonic() - start)
        elif response.status == 429:
            refused.append(1)
    conn.close()


def main() -> int:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=70.0, help="How long to guess. [s]")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-login-"))
    write_all(root)
    (root / "dashboard-users.json").write_text(json.dumps({USER: PASSWORD}))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_DASHBOARD_")}
    twin = Path(sys.executable).parent / "twin"
    log = (root / "dashboard.log").open("wb")
    process = subprocess.Popen(
        [twin, "--data-root", root, "dashboard", "--port", str(port), "--workers", "2"], env=env, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request(port, "/healthz", None)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the dashboard did not start")
            time.sleep(0.2)

        checked_at: list[float] = []
        refused: list[int] = []
        start = time.monotonic()
        threads = [
            threading.Thread(target=_guess, args=(port, start + args.seconds, start, checked_at, refused))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took_s = time.monotonic() - start
        checked_at.sort()
        per_minute = max(sum(1 for u in checked_at if t <= u < t + 60.0) for t in checked_at)
        rate_per_s = max(len(checked_at) - 10, 1) / took_s
        print(f"guessing for {took_s:.1f} s: {len(checked_at) + len(refused)} requests,", end=" ")
        print(f"{len(checked_at)} passwords checked, {len(refused)} refused with 429;")
        print(f"  at most {per_minute} checks within 60 s; 500 guesses at this rate: {490 / rate_per_s / 60:.0f} min")

        waited = time.monotonic()
        while True:
            status, retry = _request(port, "/", _token(USER, PASSWORD))
            if status == 200:
                break
            time.sleep(float(retry or 1))
        print(f"right password from the guessing address: served after {time.monotonic() - waited:.1f} s")

        def timed(path: str, auth: str | None) -> list[float]:
            out = []
            for _ in range(20):
                t0 = time.perf_counter()
                assert _request(port, path, auth, "127.0.0.2")[0] == 200
                out.append((time.perf_counter() - t0) * 1000)
            return out

        health = timed("/healthz", None)
        login = timed("/", _token(USER, PASSWORD))
        print(f"GET /healthz (public): median {statistics.median(health):.1f} ms")
        print(f"GET / with the login: median {statistics.median(login):.1f} ms, slowest {max(login):.0f} ms", end=" ")
        print("(a worker's first check of the hash)")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
