"""The import-linter contracts of pyproject.toml catch what STYLE.md section 2 forbids.

Each case builds a throwaway copy of the package tree with one import added and
runs ``lint-imports`` with the project's own contracts on it.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

DASHBOARD_RULE = "The dashboard never imports models or connectors directly"
PACKAGES = ["twin", "twin/core", "twin/field", "models", "connectors", "scenarios", "dashboard"]
MODULES = [
    "twin/cli.py",
    "twin/field/runtime.py",
    "twin/live.py",
    "twin/live_services.py",
    "twin/demo.py",
    "twin/live_controllers.py",
    "twin/live_grid.py",
    "twin/core/kpi.py",
    "models/pv.py",
    "connectors/client.py",
    "scenarios/runner.py",
    "dashboard/app.py",
]


def _write_tree(root: Path, repo_root: Path, imports: dict[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for module in MODULES:
        (root / module).write_text(imports.get(module, ""))
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]", "root_packages =", *(f"    {p}" for p in config["root_packages"])]
    for number, contract in enumerate(config["contracts"]):
        lines.append(f"[importlinter:contract:{number}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines.append(f"{key} =")
                lines.extend(f"    {item}" for item in value)
            else:
                lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    ini = root / ".importlinter"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def _lint(tmp_path: Path, repo_root: Path, imports: dict[str, str]) -> subprocess.CompletedProcess[str]:
    ini = _write_tree(tmp_path, repo_root, imports)
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [lint, "--config", str(ini), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        check=False,
    )


def test_allowed_imports_keep_every_contract(tmp_path: Path, repo_root: Path) -> None:
    result = _lint(
        tmp_path,
        repo_root,
        {
            "twin/cli.py": "import dashboard.app\nimport connectors.client\nimport twin.field.runtime\n",
            "twin/field/runtime.py": "import models.pv\nimport connectors.client\n",
            "dashboard/app.py": "import scenarios.runner\nimport twin.core.kpi\n",
            # the indirect case DESIGN.md allows: dashboard -> scenarios -> models
            "scenarios/runner.py": "import models.pv\n",
            "models/pv.py": "import twin.core.kpi\n",
            "connectors/client.py": "import twin.core.kpi\n",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        (
            "dashboard/app.py",
            "import models.pv",
            "The dashboard never imports models or connectors directly",
        ),
        (
            "dashboard/app.py",
            "import connectors.client",
            "The dashboard never imports models or connectors directly",
        ),
        ("models/pv.py", "import connectors.client", "Models and connectors are independent"),
        ("connectors/client.py", "import models.pv", "Models and connectors are independent"),
        ("twin/core/kpi.py", "import models.pv", "The twin core imports nothing else"),
        ("twin/core/kpi.py", "import twin.cli", "The twin core imports nothing else"),
        ("models/pv.py", "import scenarios.runner", "Layers"),
        ("scenarios/runner.py", "import dashboard.app", "Layers"),
        ("scenarios/runner.py", "import twin.cli", "Layers"),
        ("twin/core/kpi.py", "import twin.field.runtime", "The twin core imports nothing else"),
        ("models/pv.py", "import twin.field.runtime", "Layers"),
        ("twin/field/runtime.py", "import twin.cli", "Layers"),
    ],
)
def test_forbidden_import_breaks_a_contract(
    tmp_path: Path, repo_root: Path, module: str, statement: str, contract: str
) -> None:
    result = _lint(tmp_path, repo_root, {module: statement + "\n"})
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout


def test_indirect_import_through_core_is_caught(tmp_path: Path, repo_root: Path) -> None:
    # models -> twin.core -> connectors: the core may not import connectors, and
    # the independence contract sees the chain models -> connectors as well
    result = _lint(
        tmp_path,
        repo_root,
        {"models/pv.py": "import twin.core.kpi\n", "twin/core/kpi.py": "import connectors.client\n"},
    )
    assert result.returncode == 1
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert any(line.startswith("Models and connectors are independent") for line in broken), result.stdout
    assert any(line.startswith("The twin core imports nothing else") for line in broken), result.stdout
