"""terraform/requirements.lock, the functions' requirements.txt: it pins exactly the runtime
dependencies of pyproject.toml and what they pull in, for the Python the functions run on."""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.terraform.hcl import REPO_ROOT, TF_DIR, block, load_module

LOCK = TF_DIR / "requirements.lock"
# The CLI, the DuckDB warehouse and the terminal UI: the `local` extra, never deployed.
LOCAL_ONLY = {"duckdb", "rich"}
ROOT = "backfill (pyproject.toml)"


@dataclass
class Pin:
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def read_lock() -> dict[str, Pin]:
    """name -> its pin, hashes and the packages it is pulled in by ("# via" annotations)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*\\?$", line):
            current = pins.setdefault(canonicalize_name(match.group(1)), Pin(Version(match.group(2))))
            in_via = False
        elif current and (match := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)):
            current.hashes.append(match.group(1))
        elif current and (match := re.match(r"^\s+# via(?: (.+))?$", line)):
            in_via = True
            if match.group(1):
                current.via.add(match.group(1).strip())
                in_via = False
        elif current and in_via and (match := re.match(r"^\s+#\s+(.+)$", line)):
            current.via.add(match.group(1).strip())
        elif line.strip() and not line.startswith("#"):
            raise AssertionError(f"unexpected line in the lock: {line!r}")
    return pins


def runtime_dependencies() -> list[Requirement]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as f:
        return [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]


@pytest.fixture(scope="module")
def pins() -> dict[str, Pin]:
    return read_lock()


def test_every_pin_is_exact_and_hashed(pins: dict[str, Pin]) -> None:
    assert pins, "the lock pins nothing"
    for name, pin in pins.items():
        assert pin.hashes, f"{name} has no --hash (pip's hash-checking mode needs one for all)"


def test_every_runtime_dependency_is_pinned_within_its_range(pins: dict[str, Pin]) -> None:
    for requirement in runtime_dependencies():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{name}=={pins[name].version} does not satisfy {requirement}: run `make lock`"
        )


def test_only_the_runtime_dependencies_are_roots(pins: dict[str, Pin]) -> None:
    # What the lock pins because of backfill itself is pyproject's runtime set, nothing from
    # an extra (local, dev, bench): a stale lock or one compiled with --extra fails here.
    roots = {name for name, pin in pins.items() if ROOT in pin.via}
    assert roots == {canonicalize_name(r.name) for r in runtime_dependencies()}


def test_the_local_tooling_never_reaches_a_function(pins: dict[str, Pin]) -> None:
    assert not LOCAL_ONLY & set(pins), LOCAL_ONLY & set(pins)
    # click is Flask's and functions-framework's own dependency (Flask imports it), so it is
    # in the closure; it must not be there because of backfill.
    if "click" in pins:
        assert ROOT not in pins["click"].via
        assert pins["click"].via <= {"flask", "functions-framework", "uvicorn"}, pins["click"].via


def test_the_lock_is_for_the_functions_runtime() -> None:
    header = LOCK.read_text(encoding="utf-8").splitlines()[:6]
    python = re.search(r"with Python (\d+)\.(\d+)", "\n".join(header))
    assert python, header
    runtime = f"python{python.group(1)}{python.group(2)}"
    functions = load_module().of_type("google_cloudfunctions2_function")
    for name, function in functions.items():
        assert block(function, "build_config")["runtime"] == runtime, name
    assert "make lock" in "\n".join(header), "the header should name the command that made it"


def test_the_lock_holds_the_whole_closure(pins: dict[str, Pin]) -> None:
    """Whatever a pinned package requires (markers evaluated here) is pinned too.

    Read from the installed packages' metadata, for those installed at the locked version."""
    environment = default_environment()
    if sys.version_info[:2] != (3, 11):
        pytest.skip("markers are evaluated for the interpreter the lock was made with")
    checked = 0
    for name, pin in pins.items():
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(distribution.version) != pin.version:
            continue
        checked += 1
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            needed = canonicalize_name(requirement.name)
            assert needed in pins, f"{name}=={pin.version} requires {requirement}, not locked"
    # `make venv` installs the runtime at the locked versions, so all of them are checked.
    assert checked >= len(pins) - 2, f"only {checked} of {len(pins)} locked packages installed"
