"""Which IAM permission each Google API call needs, on which resource, and which permissions the
few roles terraform/iam.tf grants carry: the table the permission contract is checked against
(tests/integration/test_permission_contract.py).

From Google's references, read on 2026-12-03:
- the BigQuery REST reference and "BigQuery IAM roles and permissions"
  (https://cloud.google.com/bigquery/docs/access-control, the per-method "Required
  permissions" of tables, tabledata, jobs and datasets);
- "Use the legacy streaming API": tabledata.insertAll needs bigquery.tables.updateData,
  bigquery.tables.get and bigquery.datasets.get;
- "Understand jobs": jobs.insert needs bigquery.jobs.create on the project, and a job's creator
  is granted bigquery.jobs.get and bigquery.jobs.update on that job (polling and cancelling
  one's own job needs no role);
- DML needs bigquery.tables.updateData (and getData, it reads the table) on its target, and a
  query bigquery.tables.getData on every table it reads;
- Pub/Sub access control: Publisher.Publish needs pubsub.topics.publish on the topic.

Roles list only their BigQuery and Pub/Sub permissions that a call here could need (a role
shown lacking one it has would fail the contract, never pass it wrongly). The module's custom
roles are read from terraform/iam.tf itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.pubsub_v1.types import GetTopicRequest, PublishRequest

from tests.bigquery_emulator.recorder import Exchange
from tests.pubsub_recorder import Call

# Where a permission is checked: the table (dataset.table), its dataset, the project, the job
# (the caller's own), or the topic.
TABLE, DATASET, PROJECT, OWN_JOB, TOPIC = "table", "dataset", "project", "own job", "topic"

METHOD_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    # BigQuery REST v2, by the API's method names (tests/bigquery_emulator/recorder.kind_of).
    "datasets.get": (("bigquery.datasets.get", DATASET),),
    "datasets.insert": (("bigquery.datasets.create", PROJECT),),
    "tables.get": (("bigquery.tables.get", TABLE),),
    "tables.list": (("bigquery.tables.list", DATASET),),
    "tables.insert": (("bigquery.tables.create", DATASET),),
    "tables.patch": (("bigquery.tables.update", TABLE),),
    "tables.update": (("bigquery.tables.update", TABLE),),
    "tables.delete": (("bigquery.tables.delete", TABLE),),
    "tabledata.list": (("bigquery.tables.getData", TABLE),),
    "tabledata.insertAll": (("bigquery.tables.updateData", TABLE), ("bigquery.tables.get", TABLE),
                            ("bigquery.datasets.get", DATASET)),
    # A query job also needs the data permissions of its statement (statement_permissions).
    "jobs.insert": (("bigquery.jobs.create", PROJECT),),
    "jobs.get": (("bigquery.jobs.get", OWN_JOB),),
    "jobs.getQueryResults": (("bigquery.jobs.get", OWN_JOB),),
    "jobs.cancel": (("bigquery.jobs.update", OWN_JOB),),
    # Pub/Sub gRPC, by full method name.
    "/google.pubsub.v1.Publisher/Publish": (("pubsub.topics.publish", TOPIC),),
    "/google.pubsub.v1.Publisher/GetTopic": (("pubsub.topics.get", TOPIC),),
    "/google.pubsub.v1.Publisher/CreateTopic": (("pubsub.topics.create", PROJECT),),
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/bigquery.dataViewer": frozenset({
        "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
        "bigquery.tables.createSnapshot", "bigquery.tables.export", "bigquery.tables.get",
        "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
        "bigquery.routines.get", "bigquery.routines.list", "bigquery.models.export",
        "bigquery.models.getData", "bigquery.models.getMetadata", "bigquery.models.list"}),
    "roles/bigquery.jobUser": frozenset({"bigquery.config.get", "bigquery.jobs.create"}),
    "roles/pubsub.publisher": frozenset({"pubsub.topics.publish"}),
}

# Requests that name a topic, to read which one from the bytes sent.
_TOPIC_REQUESTS: dict[str, type[PublishRequest] | type[GetTopicRequest]] = {
    "/google.pubsub.v1.Publisher/Publish": PublishRequest,
    "/google.pubsub.v1.Publisher/GetTopic": GetTopicRequest,
}
_TABLE = re.compile(r"`(\w+)`\.`(\w+)`")
_DML = re.compile(r"^\s*(?:MERGE|DELETE\s+FROM|INSERT\s+INTO|UPDATE)\s+`(\w+)`\.`(\w+)`",
                  re.IGNORECASE)


@dataclass(frozen=True)
class Need:
    """One permission a call needs, on one resource ("dataset.table", "dataset", "project", a
    job id, or a topic's Terraform address)."""

    method: str
    permission: str
    resource: str


def statement_permissions(sql: str) -> list[tuple[str, str]]:
    """(permission, "dataset.table") a query's statement needs on each table it names."""
    target = _DML.match(sql)
    written = f"{target.group(1)}.{target.group(2)}" if target else None
    needs = []
    for dataset, table in dict.fromkeys(_TABLE.findall(sql)):
        name = f"{dataset}.{table}"
        needs.append(("bigquery.tables.getData", name))
        if name == written:
            needs.append(("bigquery.tables.updateData", name))
    return needs


def covers(target: str, resource: str) -> bool:
    """Whether a grant on `target` reaches `resource` (IAM's project > dataset > table)."""
    return target in ("project", resource) or (
        "." in resource and target == resource.split(".")[0] and "." not in target)


def missing(needs: list[Need], grants: list[tuple[str, str]],
            custom: dict[str, frozenset[str]]) -> list[str]:
    """One line per need no grant (target, role) covers, naming the call and the permission."""
    roles = {**ROLE_PERMISSIONS, **custom}
    gaps = []
    for need in needs:
        if any(need.permission in roles.get(role, frozenset()) and covers(target, need.resource)
               for target, role in grants):
            continue
        gaps.append(f"{need.method} needs {need.permission} on {need.resource}: no grant "
                    "carries it")
    return sorted(set(gaps))


def bigquery_needs(exchanges: Sequence[Exchange]) -> list[Need]:
    """What every recorded BigQuery call needs. Polling or cancelling a job this caller
    inserted needs nothing more: its creator holds bigquery.jobs.get and jobs.update on it."""
    own = {e.job_id for e in exchanges if e.kind == "jobs.insert"}
    needs = []
    for exchange in exchanges:
        kind = exchange.kind
        # projects/P/datasets/D/tables/T/...
        parts = exchange.path.removeprefix("/bigquery/v2/").split("/")
        places = {PROJECT: "project", DATASET: parts[3] if len(parts) > 3 else "?",
                  TABLE: f"{parts[3]}.{parts[5]}" if len(parts) > 5 else "?",
                  OWN_JOB: f"job {exchange.job_id}"}
        for permission, on in _permissions(kind):
            if on == OWN_JOB and exchange.job_id in own:
                continue
            needs.append(Need(kind, permission, places.get(on, on)))
        if kind == "jobs.insert":
            sql = exchange.body["configuration"]["query"]["query"]
            needs += [Need(kind, permission, table)
                      for permission, table in statement_permissions(sql)]
    return needs


def pubsub_needs(calls: Sequence[Call], topics: Mapping[str, str]) -> list[Need]:
    """What every recorded Pub/Sub call needs; `topics` maps a topic id to its Terraform
    address (the resource its grants name)."""
    needs = []
    for call in calls:
        topic = "?"
        request = _TOPIC_REQUESTS.get(call.method)
        if request is not None and call.request is not None:
            name = request.deserialize(call.request).topic
            topic = topics.get(name.rsplit("/", 1)[-1], name)
        needs += [Need(call.method, permission, topic if on == TOPIC else "project")
                  for permission, on in _permissions(call.method)]
    return needs


def _permissions(method: str) -> tuple[tuple[str, str], ...]:
    """The table's permissions for `method`; one nothing grants when the table lacks it."""
    return METHOD_PERMISSIONS.get(
        method, ((f"(unknown: add {method} to tests/terraform/permissions.py)", PROJECT),))
