"""The malformed-message corpus (tests/data/malformed) through a real functions-framework worker:
each is dead-lettered in one delivery with a reason naming the problem, valid ones in between work."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import requests
from backfill.bootstrap import registry_from_file
from backfill.domain.request import Reason, Request
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.settings import Settings

from tests.support import function_server, pull_all

CORPUS = Path(__file__).parent / "data" / "malformed"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
OFFENSE = registry_from_file(None).get("team_offense_game_summary")


def corpus() -> list[tuple[str, bytes]]:
    """Every file of the corpus, and a 10 MB body (generated: too big to keep as a file)."""
    files = [(name, (CORPUS / name).read_bytes()) for name in EXPECTED if (CORPUS / name).exists()]
    huge = json.dumps({"message": {"data": base64.b64encode(b" " * 10_000_000).decode()}})
    return [*files, ("(generated) 10 MB body", huge.encode())]


def push(request: Request) -> bytes:
    return json.dumps({"message": {"data": base64.b64encode(request.encode()).decode(),
                                   "attributes": request.attributes(), "messageId": "1"}}).encode()


def test_each_malformed_kind_is_dead_lettered_once_with_its_reason(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    assert len(EXPECTED) >= 20
    days = [date(2024, 11, d) for d in range(2, 9)]
    clean = {d: warehouse.read_rows(OFFENSE.target, d, d) for d in days}
    for day in days:
        warehouse.replace_range(OFFENSE.target, day, day, [], OFFENSE.schema)
    answers: dict[str, dict[str, object]] = {}
    with function_server("work", settings) as url, requests.Session() as http:
        for i, (name, body) in enumerate(corpus()):
            reply = http.post(url, data=body, headers={"Content-Type": "application/json"},
                              timeout=60)
            assert reply.status_code == 200, (name, reply.text)
            answers[name] = reply.json()
            if i % 4 == 0:  # a valid request between malformed ones is processed normally
                day = days[i // 4]
                valid = Request(processor=OFFENSE.name, game_date=day, reason=Reason.MANUAL)
                ok = http.post(url, data=push(valid), timeout=60)
                assert (ok.status_code, ok.json()["outcome"]) == (200, "succeeded"), ok.text
                assert warehouse.read_rows(OFFENSE.target, day, day) == clean[day]
    for name, reason in EXPECTED.items():
        assert answers[name]["outcome"] == "dead_lettered", name
        assert reason in str(answers[name]["error"]), (name, answers[name])
    # One dead letter per malformed kind, and nothing else (the server's readiness GETs get 405).
    letters = pull_all(settings, settings.dead_letter_subscription)
    reasons = sorted(m.message.attributes["error_message"] for m in letters)
    assert len(reasons) == len(EXPECTED), "\n".join(reasons)
    for reason in EXPECTED.values():
        assert any(reason in r for r in reasons), reason
