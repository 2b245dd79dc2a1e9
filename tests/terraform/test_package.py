"""`make package` builds function folders that import and serve on their own: each is started
with functions-framework, from the packaged folder only (no PYTHONPATH to shared/), and must
answer a bad request with a client error, never a crash."""

from __future__ import annotations

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

from tests.terraform.hcl import REPO_ROOT

FUNCTIONS = {"detector": "detect", "worker": "work"}
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could find the repository's sources."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP") and not k.startswith("BACKFILL_")
    }
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


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [n for n in FUNCTIONS if not (REPO_ROOT / "functions" / n / "main.py").is_file()]
    if missing:
        pytest.skip(f"functions not written yet: {missing}")
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "terraform" / "package.py"), "--out", str(out)],
        cwd=REPO_ROOT,
        check=True,
        env=clean_env(),
    )
    return out


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
            requests.put(f"http://{host}/v1/projects/backfill-test/topics/{topic}", timeout=10)
        yield host
    finally:
        stop(process)


def test_archives_hold_main_the_package_and_requirements(build_dir: Path) -> None:
    pyproject_deps = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tomllib,sys;print('\\n'.join(tomllib.load(open(sys.argv[1],'rb'))['project']['dependencies']))",
            str(REPO_ROOT / "pyproject.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in FUNCTIONS:
        folder = build_dir / "functions" / name
        assert (folder / "main.py").is_file()
        assert (folder / "backfill" / "__init__.py").is_file()
        assert (folder / "requirements.txt").read_text().split() == pyproject_deps
        with zipfile.ZipFile(build_dir / f"{name}.zip") as archive:
            names = set(archive.namelist())
        assert {"main.py", "requirements.txt", "backfill/__init__.py"} <= names
        assert not any("__pycache__" in n for n in names)


def test_archives_are_reproducible(build_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "terraform" / "package.py"), "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        env=clean_env(),
        capture_output=True,
    )
    for name in FUNCTIONS:
        assert (tmp_path / f"{name}.zip").read_bytes() == (build_dir / f"{name}.zip").read_bytes()


def test_package_imports_from_the_packaged_folder(build_dir: Path) -> None:
    for name in FUNCTIONS:
        folder = build_dir / "functions" / name
        where = subprocess.run(
            [sys.executable, "-c", "import backfill; print(backfill.__file__)"],
            cwd=folder,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert Path(where).resolve().is_relative_to(folder.resolve()), where


@pytest.fixture
def serve(build_dir: Path, pubsub_emulator: str, tmp_path: Path) -> Iterator:
    """Start functions-framework on a packaged folder; yields a function name -> base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> str:
        folder = build_dir / "functions" / name
        port = free_port()
        log = tmp_path / f"{name}.log"
        env = clean_env(
            GOOGLE_CLOUD_PROJECT="backfill-test",
            PUBSUB_EMULATOR_HOST=pubsub_emulator,
            BACKFILL_WAREHOUSE=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
            BACKFILL_AUDIT_DATASET="backfill_ops",
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


def test_packaged_worker_answers_a_malformed_push_without_crashing(serve) -> None:
    url = serve("worker")
    envelope = {
        "message": {
            "data": base64.b64encode(b"this is not json").decode(),
            "attributes": {},
            "messageId": "1",
            "publishTime": "2024-11-02T07:00:00Z",
        },
        "subscription": "projects/backfill-test/subscriptions/backfill-requests-push",
    }
    response = requests.post(url, json=envelope, timeout=60)
    assert 200 <= response.status_code < 500, (response.status_code, response.text)


@pytest.mark.parametrize(
    "body", [b"this is not json", json.dumps({"lookback_days": "many"}).encode()]
)
def test_packaged_detector_rejects_an_invalid_body(serve, body: bytes) -> None:
    url = serve("detector")
    response = requests.post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 400, (response.status_code, response.text)
