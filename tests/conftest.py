"""Tiers by folder: tests/unit is the fast tier (`make unit`), tests/integration and tests/e2e
start real servers (the Pub/Sub and BigQuery emulators, functions-framework, Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e", "terraform")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        tier = next((t for t in TIERS if t in parts), "integration")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """The official emulator, started for the session (and stopped), unless one is configured."""
    from backfill.local.stack import pubsub_emulator as emulator
    from backfill.settings import Settings

    with emulator(Settings.load({}, environ={})) as settings:
        assert settings.pubsub_emulator_host
        yield settings.pubsub_emulator_host


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[str]:
    """The BigQuery API emulator (bqemulator) for the session; sets BIGQUERY_EMULATOR_HOST."""
    from tests.bigquery_emulator import BigQueryEmulator

    emulator = BigQueryEmulator()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BIGQUERY_EMULATOR_HOST", emulator.host)
            yield emulator.host
    finally:
        emulator.stop()
