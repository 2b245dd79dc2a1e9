"""terraform/schemas/*.json, the schemas of the Phase 3 tables Terraform creates, are what
terraform/schemas.py generates from the processors now (`make schemas` after a change). The
audit table's (backfill_log.json) is written by hand: tests/unit/test_audit_message.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.terraform.hcl import TF_DIR

SCHEMAS = TF_DIR / "schemas"
AUDIT_SCHEMA_FILE = "backfill_log.json"


def phase3_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.name != AUDIT_SCHEMA_FILE)


def generate(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TF_DIR / "schemas.py"), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_schemas_are_what_the_processors_say(tmp_path: Path) -> None:
    result = generate(tmp_path)
    assert result.returncode == 0, result.stderr
    generated = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in phase3_files(SCHEMAS)}
    assert generated, "schemas.py wrote nothing"
    assert sorted(committed) == sorted(generated), "run `make schemas`"
    for name, text in generated.items():
        assert committed[name] == text, f"terraform/schemas/{name} is out of date: run `make schemas`"


def test_check_mode_notices_a_stale_or_extra_file(tmp_path: Path) -> None:
    assert generate(tmp_path).returncode == 0
    assert generate(tmp_path, "--check").returncode == 0
    first = sorted(tmp_path.glob("*.json"))[0]
    columns = json.loads(first.read_text(encoding="utf-8"))
    first.write_text(json.dumps(columns[:-1], indent=2) + "\n", encoding="utf-8")
    (tmp_path / "retired_processor.json").write_text("[]\n", encoding="utf-8")
    result = generate(tmp_path, "--check")
    assert result.returncode == 1
    assert f"{first.name} is out of date" in result.stderr
    assert "retired_processor.json matches no processor" in result.stderr
    # Writing mends both.
    assert generate(tmp_path).returncode == 0
    assert not (tmp_path / "retired_processor.json").exists()
    assert generate(tmp_path, "--check").returncode == 0
    # The audit table's schema, written by hand, is neither stale nor removed.
    (tmp_path / AUDIT_SCHEMA_FILE).write_text("[]\n", encoding="utf-8")
    assert generate(tmp_path, "--check").returncode == 0
    assert generate(tmp_path).returncode == 0 and (tmp_path / AUDIT_SCHEMA_FILE).exists()


def test_every_schema_can_be_partitioned_and_clustered_as_terraform_does() -> None:
    files = phase3_files(SCHEMAS)
    assert files
    for path in files:
        columns = json.loads(path.read_text(encoding="utf-8"))
        types = {c["name"]: c["type"] for c in columns}
        assert types.get("game_date") == "DATE", path.name
        assert types.get("game_id") == "STRING", path.name
        assert {"inputs", "row_hash", "processor_version"} <= set(types), path.name
        assert all(c["mode"] == "NULLABLE" for c in columns), path.name
        assert len(types) == len(columns), f"{path.name} repeats a column"
        assert set(types.values()) <= {"STRING", "INT64", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"}


# The lineage columns every table created before content fingerprints ends with, in this order.
DEPLOYED_BEFORE_FINGERPRINTS = ["source_processed_at", "upstream_versions", "content_version",
                                "processor_version"]


def test_a_deployed_table_keeps_every_column_it_had_and_gains_new_ones_at_the_end() -> None:
    """Terraform replaces a table whose schema loses a column (deletion protection then fails the
    apply): the retired lineage columns stay where they stood, the new ones come after them."""
    for path in phase3_files(SCHEMAS):
        names = [c["name"] for c in json.loads(path.read_text(encoding="utf-8"))]
        at = names.index(DEPLOYED_BEFORE_FINGERPRINTS[0])
        assert names[at:at + 4] == DEPLOYED_BEFORE_FINGERPRINTS, path.name
        assert names[at + 4:] == ["inputs", "row_hash"], path.name
