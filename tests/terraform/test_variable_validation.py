"""The variables' validation rules, evaluated by Terraform itself.

variables.tf needs no provider, so it is copied alone into a scratch module that `terraform
init` sets up offline; `terraform plan` then runs every validation rule (cross-variable ones
included) against the values given and plans nothing. Python-side parsing could only say the
rules exist; this says what they accept and refuse.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.hcl import TF_DIR

TERRAFORM = shutil.which("terraform")
pytestmark = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")

# The smallest set of values a real deployment must give.
REQUIRED = {"project_id": "my-nba-project", "alert_email": "oncall@example.com"}


@pytest.fixture(scope="module")
def variables_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module = tmp_path_factory.mktemp("variables")
    shutil.copy(TF_DIR / "variables.tf", module / "variables.tf")
    subprocess.run(
        [TERRAFORM, "init", "-input=false", "-backend=false", "-no-color"],
        cwd=module,
        check=True,
        capture_output=True,
    )
    return module


def hcl_value(value: object, *, top: bool = True) -> str:
    """A -var value: primitives as they are (Terraform reads them literally), lists as HCL."""
    if isinstance(value, str) and top:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v, top=False) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def plan(module: Path, **values: object) -> subprocess.CompletedProcess[str]:
    """`terraform plan` of the variables alone with REQUIRED overridden by `values`."""
    given = {**REQUIRED, **values}
    args = [f"-var={name}={hcl_value(v)}" for name, v in given.items() if v is not None]
    return subprocess.run(
        [TERRAFORM, "plan", "-input=false", "-no-color", "-lock=false", *args],
        cwd=module,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_accepted(module: Path, **values: object) -> None:
    result = plan(module, **values)
    assert result.returncode == 0, f"{values} refused:\n{result.stderr}"


def assert_refused(module: Path, variable: str, **values: object) -> None:
    result = plan(module, **values)
    assert result.returncode != 0, f"{values} accepted"
    assert "Invalid value for variable" in result.stderr, result.stderr
    assert f'variable "{variable}"' in result.stderr, result.stderr


def test_the_defaults_plan(variables_module: Path) -> None:
    # Every default must pass its own rule (a regex Terraform cannot compile never matches).
    assert_accepted(variables_module)


@pytest.mark.parametrize("attempts", [50, 60, 100])
def test_delivery_attempts_accepted(variables_module: Path, attempts: int) -> None:
    assert_accepted(variables_module, max_delivery_attempts=attempts)


@pytest.mark.parametrize("attempts", [5, 49, 101, 60.5])
def test_delivery_attempts_refused(variables_module: Path, attempts: float) -> None:
    # Below 50, overload 429s would dead-letter healthy requests; above 100 Pub/Sub refuses.
    assert_refused(variables_module, "max_delivery_attempts", max_delivery_attempts=attempts)


def test_dependency_wait_must_be_positive_and_within_retention(variables_module: Path) -> None:
    assert_refused(variables_module, "dependency_wait_seconds", dependency_wait_seconds=0)
    assert_refused(
        variables_module,
        "dependency_wait_seconds",
        dependency_wait_seconds=400000,
        requests_message_retention_seconds=345600,
    )
    assert_accepted(variables_module, dependency_wait_seconds=1)
    assert_accepted(variables_module, dependency_wait_seconds=86400)


def test_ack_deadline_must_cover_the_worker_timeout(variables_module: Path) -> None:
    assert_refused(
        variables_module,
        "push_ack_deadline_seconds",
        push_ack_deadline_seconds=300,
        worker_timeout_seconds=540,
    )
    assert_accepted(variables_module, push_ack_deadline_seconds=300, worker_timeout_seconds=300)


@pytest.mark.parametrize("variable", ["raw_dataset_id", "analytics_dataset_id", "audit_dataset_id"])
def test_dataset_ids(variables_module: Path, variable: str) -> None:
    assert_accepted(variables_module, **{variable: "a_b_1"})
    assert_refused(variables_module, variable, **{variable: "nba-raw"})
    assert_refused(variables_module, variable, **{variable: "x" * 1025})


def test_maximum_bytes_billed(variables_module: Path) -> None:
    assert_accepted(variables_module, maximum_bytes_billed=100 * 2**20)
    assert_accepted(variables_module, maximum_bytes_billed=10**13)
    assert_refused(variables_module, "maximum_bytes_billed", maximum_bytes_billed=100 * 2**20 - 1)
    assert_refused(variables_module, "maximum_bytes_billed", maximum_bytes_billed=0)
    assert_refused(variables_module, "maximum_bytes_billed", maximum_bytes_billed=1.5e7 + 0.5)


@pytest.mark.parametrize("variable", ["source_tables", "target_tables"])
def test_table_lists(variables_module: Path, variable: str) -> None:
    assert_accepted(variables_module, **{variable: ["a_table", "b_table"]})
    assert_refused(variables_module, variable, **{variable: []})
    assert_refused(variables_module, variable, **{variable: ["a", "a"]})
    assert_refused(variables_module, variable, **{variable: ["nba-raw.table"]})


def test_alerts_must_notify_someone_unless_disabled(variables_module: Path) -> None:
    assert_refused(variables_module, "alerts_enabled", alert_email="")
    assert_refused(variables_module, "alerts_enabled", alert_email="", alerts_enabled=True)
    assert_accepted(variables_module, alert_email="oncall@example.com")
    assert_accepted(
        variables_module,
        alert_email="",
        notification_channels=["projects/my-nba-project/notificationChannels/123"],
    )
    assert_accepted(variables_module, alert_email="", alerts_enabled=False)


def test_run_stall_minutes(variables_module: Path) -> None:
    assert_accepted(variables_module, run_stall_minutes=1)
    assert_refused(variables_module, "run_stall_minutes", run_stall_minutes=0)
    assert_refused(variables_module, "run_stall_minutes", run_stall_minutes=2.5)
