"""Write terraform/schemas/<table>.json: the Phase 3 target tables' schemas, from the processors.

(backfill_log.json, the audit table's, is written by hand and left alone.)

Terraform creates the target tables from these files when `create_target_tables` is set
(bigquery.tf): partitioned by day on `game_date`, clustered by `game_id`, every column
NULLABLE, no column ever removed or moved (`deployed_columns`). Rerun it (`make schemas`)
whenever a processor's columns change; the Terraform tests fail while the committed files differ
from what the processors say now.

Usage: python terraform/schemas.py [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "terraform" / "schemas"
# This checkout's package, whatever else the interpreter has installed.
sys.path.insert(0, str(REPO_ROOT / "shared"))

from backfill.domain.fingerprint import PROCESSOR_VERSION  # noqa: E402
from backfill.domain.tables import Column, Schema  # noqa: E402
from backfill.processors.base import RETIRED_LINEAGE, Processor  # noqa: E402
from backfill.processors.registry import load_registry  # noqa: E402

# Written by hand, not generated: Backfill's audit table, whose schema is also the audit
# messages' (tests/unit/test_audit_message.py keeps the two equal).
HAND_WRITTEN = {"backfill_log.json"}
PARTITION_COLUMN = ("game_date", "DATE")
CLUSTER_COLUMN = "game_id"


def deployed_columns(processor: Processor) -> Schema:
    """The target table's columns in the order deployed tables already hold them: those of tables
    made before content fingerprints (the retired lineage columns where they stood), then the
    columns added since, at the end. Terraform replaces a table whose schema loses a column (and
    deletion protection then fails the apply); a column added at the end is an in-place update."""
    before = processor.schema + RETIRED_LINEAGE + (Column(PROCESSOR_VERSION, "STRING"),)
    return before + tuple(c for c in processor.table_schema() if c not in before)


def target_schemas() -> dict[str, list[dict[str, str]]]:
    """Target table name -> its BigQuery JSON schema, for every built-in processor."""
    schemas: dict[str, list[dict[str, str]]] = {}
    for processor in load_registry(None).ordered():
        table = processor.target.table
        columns = [{"name": c.name, "type": c.type, "mode": "NULLABLE"}
                   for c in deployed_columns(processor)]
        types = {c["name"]: c["type"] for c in columns}
        if types.get(PARTITION_COLUMN[0]) != PARTITION_COLUMN[1]:
            raise SystemExit(f"schemas: {table} has no {' '.join(PARTITION_COLUMN)} column to "
                             "partition by")
        if CLUSTER_COLUMN not in types:
            raise SystemExit(f"schemas: {table} has no {CLUSTER_COLUMN} column to cluster by")
        if table in schemas:
            raise SystemExit(f"schemas: two processors write {table}")
        schemas[table] = columns
    return schemas


def render(columns: list[dict[str, str]]) -> str:
    return json.dumps(columns, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR, help="directory to write")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files differ from the processors")
    args = parser.parse_args(argv)

    wanted = {f"{table}.json": render(columns) for table, columns in target_schemas().items()}
    present = {p.name: p.read_text(encoding="utf-8") for p in args.out.glob("*.json")}
    stale = sorted(n for n in present if n not in wanted and n not in HAND_WRITTEN)
    changed = sorted(n for n, text in wanted.items() if present.get(n) != text)
    if args.check:
        for name in changed:
            print(f"schemas: {args.out / name} is out of date", file=sys.stderr)
        for name in stale:
            print(f"schemas: {args.out / name} matches no processor", file=sys.stderr)
        if changed or stale:
            print("schemas: run `make schemas`", file=sys.stderr)
        return 1 if changed or stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (args.out / name).write_text(wanted[name], encoding="utf-8")
        print(f"schemas: wrote {args.out / name}")
    for name in stale:
        (args.out / name).unlink()
        print(f"schemas: removed {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
