"""Resource limits before work: 1 kB input files that would grow to gigabytes, nest 10,000 deep or
expand to 10**10 scenarios stop with exit 2 and one line, within seconds and bounded memory.

The CLI runs as a subprocess under a real address-space limit (``RLIMIT_AS``): the virtual
memory peak of the same CLI on a valid small scenario file plus 300 MB. Its resident peak
(``VmHWM``, reported by the child at exit) must stay within 300 MB of that run's, and its CPU
time within 2 s of that run's (wall time on a shared machine is mostly the imports' and noisy).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.controller_map import CONTROLLER_MAP_FILE, load_controller_map
from connectors.maps import MAPS_DIR, load_map
from scenarios.config import load_scenario
from twin.cli import main
from twin.core.errors import ConfigError

MARGIN_KB = 300 * 1024
#: Runs ``twin`` in-process and prints the memory peaks as the last stderr line at exit.
_CLI = """
import atexit, resource, sys
def _peaks():
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = usage.ru_utime + usage.ru_stime
    print("peaks", int(status["VmPeak"].split()[0]), int(status["VmHWM"].split()[0]), cpu_s, file=sys.stderr)
atexit.register(_peaks)
from twin.cli import main
main(sys.argv[1:])
"""
PARAMETERS = (
    "changes.pv.share_frac",
    "changes.pv.min_kwp",
    "changes.home_batteries.share_frac",
    "changes.heat_pumps.share_frac",
    "changes.retrofit.share_frac",
    "changes.evs.share_frac",
    "factors.co2_grid_g_per_kwh",
    "costs.import_eur_per_kwh",
    "costs.export_eur_per_kwh",
    "seed",
)


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" list: ``width ** levels`` strings from about ``10 * levels`` aliases."""
    text = "&a0 [" + ", ".join(['"lol"'] * width) + "]"
    for level in range(1, levels):
        text = f"&a{level} [{text}, " + ", ".join([f"*a{level - 1}"] * (width - 1)) + "]"
    return text


@dataclass(frozen=True)
class Run:
    code: int
    message: str
    elapsed_s: float
    cpu_s: float
    vm_peak_kb: int
    rss_peak_kb: int


def _twin(*args: str, cwd: Path, limit_kb: int | None = None) -> Run:
    def cap() -> None:
        if limit_kb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_kb * 1024, limit_kb * 1024))

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        preexec_fn=cap,
    )
    elapsed = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    peaks = [line.split() for line in lines if line.startswith("peaks ")]
    vm, rss, cpu = (int(peaks[-1][1]), int(peaks[-1][2]), float(peaks[-1][3])) if peaks else (0, 0, 0.0)
    message = "\n".join(line for line in lines if not line.startswith("peaks "))
    return Run(done.returncode, message, elapsed, cpu, vm, rss)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The CLI checking a valid small scenario file (imports included)."""
    folder = tmp_path_factory.mktemp("baseline")
    (folder / "ok.yaml").write_text('name: ok\nstart: "2025-06-01"\nend: "2025-06-02"\n', encoding="utf-8")
    run = _twin("scenario", "check", "ok.yaml", cwd=folder)
    assert run.code == 0 and run.vm_peak_kb > 0, run.message
    return run


def _scenario_bomb(folder: Path) -> list[str]:
    (folder / "bomb.yaml").write_text(f"name: x\ndescription: {alias_bomb(10)}\n", encoding="utf-8")
    return ["scenario", "check", "bomb.yaml"]


def _district_bomb(folder: Path) -> list[str]:
    (folder / "district.yaml").write_text(
        "name: d\n"
        f"description: {alias_bomb(10)}\n"
        "location: {latitude_deg: 51.3, longitude_deg: 12.5, altitude_m: 129, timezone: Europe/Berlin}\n"
        "grid: {simbench_code: 1-LV-semiurb5--0-sw}\n"
        "buildings: []\n",
        encoding="utf-8",
    )
    return ["district", "show", "district.yaml"]


def _scenario_deep(folder: Path) -> list[str]:
    (folder / "deep.yaml").write_text("name: x\nchanges: " + "[" * 10000 + "]" * 10000 + "\n", encoding="utf-8")
    return ["scenario", "check", "deep.yaml"]


def _district_deep(folder: Path) -> list[str]:
    (folder / "district.yaml").write_text("name: d\nbuildings:\n" + "  " + "- " * 10000 + "x\n", encoding="utf-8")
    return ["district", "show", "district.yaml"]


def _sweep_10x10(folder: Path) -> list[str]:
    values = {p: [i if p == "seed" else i / 10 for i in range(10)] for p in PARAMETERS}
    lines = [f"  {path}: {options}" for path, options in values.items()]
    (folder / "sweep.yaml").write_text("name: sw\nbase: baseline\nparameters:\n" + "\n".join(lines) + "\n")
    return ["scenario", "check", "sweep.yaml"]


def _sweep_large_base(folder: Path) -> list[str]:
    """10,000 scenarios of a base with 20,000 building ids: 2.4 GB if every scenario were built."""
    ids = ", ".join(f"h{i}" for i in range(20000))
    ten = list(range(10))
    (folder / "sweep.yaml").write_text(
        "name: sw\nbase: {name: b, start: '2025-06-01', end: '2025-06-02', changes: {pv: {buildings: ["
        + ids
        + f"]}}}}}}\nparameters: {{seed: {ten}, costs.charger_eur: {ten}, costs.pv_eur_per_kwp: {ten}, "
        + f"costs.lifetime_a: {[t + 1 for t in ten]}}}\n"
    )
    return ["scenario", "check", "sweep.yaml"]


AT = r"line \d, column \d+: under "
CASES = {
    "scenario_alias_bomb": (_scenario_bomb, "bomb.yaml: " + AT + "description.*: .*more than 1000000 values"),
    "district_alias_bomb": (_district_bomb, "district.yaml: " + AT + "description.*: .*more than 1000000"),
    "scenario_nested_10000": (_scenario_deep, "deep.yaml: " + AT + r"changes\.0\.0\.0.*: .*deeper than 100"),
    "district_nested_10000": (_district_deep, "district.yaml: " + AT + r"buildings\.0\.0.*: .*deeper than 100"),
    "sweep_10_by_10": (_sweep_10x10, r"sweep.yaml: parameters: 10000000000 scenarios is too many"),
    "sweep_large_base": (_sweep_large_base, r"sweep.yaml: parameters: 10000 scenarios of up to 200\d\d values"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bombs_exit_2_fast_under_a_memory_limit(case: str, tmp_path: Path, baseline: Run) -> None:
    write, expected = CASES[case]
    run = _twin(*write(tmp_path), cwd=tmp_path, limit_kb=baseline.vm_peak_kb + MARGIN_KB)
    assert run.code == 2, run.message
    assert len(run.message.splitlines()) == 1 and "Traceback" not in run.message
    assert re.search(expected, run.message), run.message
    assert run.rss_peak_kb < baseline.rss_peak_kb + MARGIN_KB
    assert run.cpu_s < baseline.cpu_s + 2.0, (run.cpu_s, baseline.cpu_s)
    assert run.elapsed_s < 60.0


def test_scenario_check_validates_the_district_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.yaml").write_text("name: x\ndistrict: /etc/passwd\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["scenario", "check", str(tmp_path / "s.yaml")])
    assert info.value.code == 2
    assert f"{tmp_path / 's.yaml'}: district: /etc/passwd: a district file must be a mapping" in capsys.readouterr().err


def test_readme_dates_need_no_quotes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nstart: 2025-06-01\nend: 2025-06-02 06:15:00\n", encoding="utf-8")
    scenario = load_scenario(path)
    assert [str(t) for t in scenario.period] == ["2025-06-01 00:00:00", "2025-06-02 06:15:00"]
    sweep = tmp_path / "sw.yaml"
    sweep.write_text("name: sw\nbase: s.yaml\nparameters:\n  end: [2025-06-03, 2025-06-04]\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["scenario", "check", str(sweep)])
    assert info.value.code == 0
    assert "sw.yaml: ok (2 scenarios)" in capsys.readouterr().out


@pytest.mark.parametrize("loader", ["scenario", "device_map", "controller_map"])
def test_duplicate_keys_are_refused_by_every_loader(loader: str, tmp_path: Path) -> None:
    path = tmp_path / f"{loader}.yaml"
    if loader == "scenario":
        path.write_text("name: x\nseed: 1\nseed: 2\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"line 3, column 1: duplicate key 'seed'"):
            load_scenario(path)
        return
    source = (MAPS_DIR / "sdm630.yaml") if loader == "device_map" else CONTROLLER_MAP_FILE
    text = source.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if line and not line.startswith(("#", " ")))
    path.write_text(text + "\n" + first + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"duplicate key '{first.split(':')[0]}'"):
        (load_map if loader == "device_map" else load_controller_map)(path)
