"""`make package` builds lean function folders that import and serve on their own.

Each folder holds main.py, the backfill package without backfill/local/ (the CLI, DuckDB, the
demo, seeding, the local stack) and the lock as requirements.txt. The served tests start
functions-framework from the packaged folder only (no PYTHONPATH to shared/) against a
BigQuery warehouse URL with no credentials at all, so they never depend on a warehouse: what
they check is answered before any warehouse call, or must survive its failure.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.terraform.hcl import REPO_ROOT, TF_DIR

FUNCTIONS = {"detector": "detect", "worker": "work"}
STARTUP_SECONDS = 60
# Never imported by deployed code: they are the `local` extra's, not in the lock.
LOCAL_ONLY_MODULES = {"duckdb", "click", "rich"}
PROJECT = "backfill-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could find the repository's sources or
    real Google credentials (a missing key file makes every Google client fail at once, so no
    test reaches for a network beyond this machine)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PUBSUB_EMULATOR_HOST")
        and not k.startswith(("BACKFILL_", "GOOGLE_", "CLOUDSDK_"))
    }
    env["GOOGLE_APPLICATION_CREDENTIALS"] = "/nonexistent/backfill-test-credentials.json"
    env.update(extra)
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")


def package(out: Path) -> None:
    subprocess.run(
        [sys.executable, str(TF_DIR / "package.py"), "--out", str(out)],
        cwd=REPO_ROOT,
        check=True,
        env=clean_env(),
        capture_output=True,
    )


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [n for n in FUNCTIONS if not (REPO_ROOT / "functions" / n / "main.py").is_file()]
    if missing:
        pytest.skip(f"functions not written yet: {missing}")
    out = tmp_path_factory.mktemp("build")
    package(out)
    return out


# --- The archives -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_archive_holds_main_the_package_and_the_lock(build_dir: Path, name: str) -> None:
    lock = (TF_DIR / "requirements.lock").read_bytes()
    folder = build_dir / "functions" / name
    assert (folder / "main.py").is_file()
    assert (folder / "backfill" / "__init__.py").is_file()
    assert (folder / "requirements.txt").read_bytes() == lock
    with zipfile.ZipFile(build_dir / f"{name}.zip") as archive:
        names = set(archive.namelist())
        assert archive.read("requirements.txt") == lock
    assert {"main.py", "requirements.txt", "backfill/__init__.py"} <= names
    assert {"backfill/entrypoints/http.py", "backfill/adapters/bigquery_warehouse.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_archive_leaves_out_the_local_tooling(build_dir: Path, name: str) -> None:
    assert (REPO_ROOT / "shared" / "backfill" / "local" / "__init__.py").is_file(), (
        "backfill.local moved: update package.py's LOCAL_ONLY and this test"
    )
    with zipfile.ZipFile(build_dir / f"{name}.zip") as archive:
        names = archive.namelist()
    local = [n for n in names if n.startswith("backfill/local/") or n == "backfill/local"]
    assert not local, local


def imports_of(source: str, module: str) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement of a module's source."""
    if module.endswith(".__init__"):
        package = module.removesuffix(".__init__")
    else:
        package = module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # from . import x: relative to the module's package
                    parts = package.split(".")
                    parent = parts[: len(parts) - (child.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                found.append((base, top))
                found.extend((f"{base}.{alias.name}", top) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(source), True)
    return found


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_packaged_module_imports_the_local_tooling(build_dir: Path, name: str) -> None:
    offenders = []
    with zipfile.ZipFile(build_dir / f"{name}.zip") as archive:
        sources = {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")}
    assert len(sources) > 10, sorted(sources)
    for path, source in sources.items():
        module = path.removesuffix(".py").replace("/", ".")
        for imported, top in imports_of(source, module):
            root = imported.split(".")[0]
            if root in LOCAL_ONLY_MODULES:
                offenders.append(f"{path} imports {imported}")
            # A lazy import inside a function only fails if that path is taken (a duckdb://
            # warehouse, which a function is never given); one at import time breaks it.
            if top and (imported == "backfill.local" or imported.startswith("backfill.local.")):
                offenders.append(f"{path} imports {imported} when it is imported")
    assert not offenders, offenders


def test_import_scan_sees_every_form() -> None:
    source = (
        "import duckdb\nfrom rich.console import Console\nfrom . import local\n"
        "def f():\n    import click\n    from backfill.local.cli import main\n"
    )
    found = imports_of(source, "backfill.bootstrap")
    assert ("duckdb", True) in found
    assert ("rich.console", True) in found
    assert ("backfill.local", True) in found
    assert ("click", False) in found
    assert ("backfill.local.cli", False) in found


def test_archives_are_reproducible(build_dir: Path, tmp_path: Path) -> None:
    package(tmp_path)
    for name in FUNCTIONS:
        assert (tmp_path / f"{name}.zip").read_bytes() == (build_dir / f"{name}.zip").read_bytes()


def test_package_refuses_a_lock_that_misses_a_runtime_dependency(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "functions", root / "functions")
    shutil.copytree(REPO_ROOT / "shared" / "backfill", root / "shared" / "backfill")
    (root / "terraform").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    lock = (TF_DIR / "requirements.lock").read_text(encoding="utf-8")
    (root / "terraform" / "requirements.lock").write_text(
        lock.replace("\ntenacity==", "\nnot-tenacity=="), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, str(TF_DIR / "package.py"), "--root", str(root), "--out", str(tmp_path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "does not pin tenacity" in result.stderr, result.stderr


# --- The folders on their own -----------------------------------------------------------------

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import main
import backfill
modules = [m.name for m in pkgutil.walk_packages(backfill.__path__, "backfill.")]
for module in modules:
    importlib.import_module(module)
try:
    import backfill.local
except ModuleNotFoundError:
    local = False
else:
    local = True
print(json.dumps({"backfill": backfill.__file__, "modules": modules, "local": local,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {mods})}))
"""


@pytest.mark.parametrize("name", FUNCTIONS)
def test_packaged_folder_imports_on_its_own(build_dir: Path, name: str) -> None:
    folder = build_dir / "functions" / name
    # click is left out here: Flask (functions-framework) imports it for its own CLI.
    script = IMPORT_EVERYTHING.replace("{mods}", repr(LOCAL_ONLY_MODULES - {"click"}))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The folder's own copy, not the repository's shared/backfill.
    assert Path(report["backfill"]).resolve().is_relative_to(folder.resolve()), report["backfill"]
    assert "backfill.entrypoints.http" in report["modules"]
    assert not report["local"], "backfill.local is importable from the packaged folder"
    assert not report["loaded"], f"importing the package loaded {report['loaded']}"


@pytest.fixture
def serve(build_dir: Path, tmp_path: Path) -> Iterator:
    """Start functions-framework on a packaged folder; yields start(name, **env) -> base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, **extra_env: str) -> str:
        folder = build_dir / "functions" / name
        port = free_port()
        log = tmp_path / f"{name}.log"
        env = clean_env(
            GOOGLE_CLOUD_PROJECT=PROJECT,
            BACKFILL_WAREHOUSE=f"bigquery://{PROJECT}",
            BACKFILL_AUDIT_DATASET="backfill_ops",
            **extra_env,
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "functions_framework",
                    "--target",
                    FUNCTIONS[name],
                    "--source",
                    "main.py",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url, process, log)
        return url

    try:
        yield start
    finally:
        for process in processes:
            stop(process)


def test_packaged_worker_answers_a_get_with_405(serve) -> None:
    # Pub/Sub only POSTs; a GET is a person or a probe, never a message to dead-letter.
    response = requests.get(serve("worker"), timeout=60)
    assert response.status_code == 405, (response.status_code, response.text)


@pytest.mark.parametrize(
    "body", [b"this is not json", json.dumps({"lookback_days": "many"}).encode()]
)
def test_packaged_detector_rejects_an_invalid_body(serve, body: bytes) -> None:
    url = serve("detector")
    response = requests.post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 400, (response.status_code, response.text)


@pytest.fixture(scope="module")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Pub/Sub emulator with the two topics, so a dead-letter publish has somewhere to go."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud (Pub/Sub emulator) is not installed")
    port = free_port()
    host = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={host}", "--quiet"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://{host}", process, log)
        for topic in ("backfill-requests", "backfill-dead-letter"):
            requests.put(f"http://{host}/v1/projects/{PROJECT}/topics/{topic}", timeout=10)
        yield host
    finally:
        stop(process)


def test_packaged_worker_dead_letters_a_malformed_push_with_no_warehouse(
    serve, pubsub_emulator: str
) -> None:
    """The dead letter goes out and the push is acknowledged although the audit write to
    BigQuery fails (no credentials): the audit trail never fails a request."""
    base = f"http://{pubsub_emulator}/v1/projects/{PROJECT}"
    subscription = f"{base}/subscriptions/dead-letter-check"
    created = requests.put(
        subscription, json={"topic": f"projects/{PROJECT}/topics/backfill-dead-letter"}, timeout=10
    )
    assert created.status_code in (200, 409), created.text
    url = serve("worker", PUBSUB_EMULATOR_HOST=pubsub_emulator)
    envelope = {
        "message": {
            "data": base64.b64encode(b"this is not json").decode(),
            "attributes": {},
            "messageId": "1",
            "publishTime": "2024-11-02T07:00:00Z",
        },
        "subscription": f"projects/{PROJECT}/subscriptions/backfill-requests-push",
        "deliveryAttempt": 1,
    }
    response = requests.post(url, json=envelope, timeout=120)
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.json()["outcome"] == "dead_lettered", response.text
    received: list[dict] = []
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        pulled = requests.post(f"{subscription}:pull", json={"maxMessages": 10}, timeout=30)
        received = pulled.json().get("receivedMessages", [])
    assert received, "no dead letter reached the dead-letter topic"


def test_packaged_worker_publishes_its_audit_row_to_the_audit_topic_as_terraform_sets_it(
    serve, pubsub_emulator: str
) -> None:
    """Deployed with BACKFILL_AUDIT_TOPIC (functions.tf), the worker publishes its audit row
    (a row of schemas/backfill_log.json, for the BigQuery subscription) and answers; it needs
    no warehouse for it."""
    base = f"http://{pubsub_emulator}/v1/projects/{PROJECT}"
    requests.put(f"{base}/topics/backfill-audit", timeout=10)
    subscription = f"{base}/subscriptions/audit-check"
    created = requests.put(
        subscription, json={"topic": f"projects/{PROJECT}/topics/backfill-audit"}, timeout=10
    )
    assert created.status_code in (200, 409), created.text
    url = serve("worker", PUBSUB_EMULATOR_HOST=pubsub_emulator,
                BACKFILL_AUDIT_TOPIC="backfill-audit")
    envelope = {
        "message": {"data": base64.b64encode(b"{not json").decode(), "attributes": {},
                    "messageId": "2", "publishTime": "2024-11-02T07:00:00Z"},
        "subscription": f"projects/{PROJECT}/subscriptions/backfill-requests-push",
    }
    response = requests.post(url, json=envelope, timeout=120)
    assert response.status_code == 200, (response.status_code, response.text)
    received: list[dict] = []
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        pulled = requests.post(f"{subscription}:pull", json={"maxMessages": 10}, timeout=30)
        received = pulled.json().get("receivedMessages", [])
    assert received, "no audit row reached the audit topic"
    row = json.loads(base64.b64decode(received[0]["message"]["data"]))
    columns = json.loads((TF_DIR / "schemas" / "backfill_log.json").read_text(encoding="utf-8"))
    assert set(row) == {c["name"] for c in columns}
    assert row["outcome"] == "dead_lettered" and isinstance(row["logged_at"], int)
