"""Who terraform/iam.tf grants what, on what: every IAM member resource expanded to
(principal, target, role) with the variables' defaults, for the structure tests and the
permission contract (tests/integration/test_permission_contract.py).

Targets are "dataset.table" for a BigQuery table, "dataset" for a BigQuery dataset, "project",
or the Terraform address of anything else (a topic, a function). Roles are Google's names;
a custom role of this module is named as Google names it, projects/PROJECT/roles/<role_id>.
"""

from __future__ import annotations

import re
from typing import Any

from tests.terraform.hcl import Module

IAM_MEMBER_TYPES = {
    "google_project_iam_member",
    "google_bigquery_dataset_iam_member",
    "google_bigquery_table_iam_member",
    "google_pubsub_topic_iam_member",
    "google_pubsub_subscription_iam_member",
    "google_service_account_iam_member",
    "google_cloud_run_v2_service_iam_member",
}
_CUSTOM = re.compile(r"^\$\{google_project_iam_custom_role\.(\w+)\.(name|id)\}$")


def custom_role(role_id: str) -> str:
    return f"projects/PROJECT/roles/{role_id}"


def custom_roles(tf: Module) -> dict[str, frozenset[str]]:
    """Each custom role this module defines, by its name, and its permissions."""
    return {custom_role(body["role_id"]): frozenset(body["permissions"])
            for body in tf.of_type("google_project_iam_custom_role").values()}


def principal(member: str) -> str:
    if match := re.search(r"google_service_account\.(\w+)\.(member|email)", member):
        return match.group(1)
    if member == "${local.pubsub_service_agent}":
        return "pubsub_agent"
    raise AssertionError(f"unexpected member {member!r}")


def all_grants(tf: Module) -> list[tuple[str, str, str]]:
    """(principal, target, role) of every instance of every IAM member resource."""
    return [
        (principal(body["member"]), target, role)
        for (rtype, _name), body in tf.resources.items()
        if rtype in IAM_MEMBER_TYPES
        for target, role in grants_of(tf, rtype, body)
    ]


def grants_of(tf: Module, rtype: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, role) of every instance of one IAM member resource."""
    grants = []
    for key in _instances(tf, body):
        role = key if body["role"] in ("${each.value}", "${each.key}") else body["role"]
        if match := _CUSTOM.match(str(role)):
            role = custom_role(tf.of_type("google_project_iam_custom_role")[match.group(1)]
                               ["role_id"])
        assert role and role.startswith(("roles/", "projects/PROJECT/roles/")), role
        if rtype == "google_project_iam_member":
            target = "project"
        elif rtype == "google_bigquery_table_iam_member":
            target = _bigquery_table(tf, body, key)
        elif rtype == "google_bigquery_dataset_iam_member":
            target = _dataset(tf, body["dataset_id"])
        else:
            target = _target(rtype, body)
        grants.append((target, role))
    return grants


def _instances(tf: Module, body: dict[str, Any]) -> list[str | None]:
    """The keys of a resource's instances: None alone without for_each."""
    if "for_each" not in body:
        return [None]
    expression = body["for_each"]
    if match := re.fullmatch(r"\$\{toset\((var|local)\.(\w+)\)\}", expression):
        kind, name = match.groups()
        values = tf.variables[name]["default"] if kind == "var" else tf.locals[name]
        assert isinstance(values, list), expression
        return list(values)
    if match := re.fullmatch(r"\$\{local\.(\w+)\}", expression):
        assert isinstance(tf.locals[match.group(1)], dict), expression
        return list(tf.locals[match.group(1)])
    raise AssertionError(f"for_each the tests cannot expand: {expression}")


def _dataset(tf: Module, expression: str) -> str:
    """The default id of the dataset `google_bigquery_dataset.X.dataset_id` names."""
    match = re.fullmatch(r"\$\{google_bigquery_dataset\.(\w+)\.dataset_id\}", expression)
    assert match, f"a dataset grant on a dataset this module does not make: {expression}"
    return str(tf.resolve(tf.of_type("google_bigquery_dataset")[match.group(1)]["dataset_id"]))


def _table_resource_id(tf: Module, expression: str) -> tuple[str, str]:
    """("dataset", "table") of `google_bigquery_table.X`, with the dataset's default id."""
    match = re.fullmatch(r"\$\{google_bigquery_table\.(\w+)\}", expression)
    assert match, expression
    table = tf.of_type("google_bigquery_table")[match.group(1)]
    assert refers_to(table["dataset_id"], "google_bigquery_dataset.audit"), match.group(1)
    return tf.resolve(tf.of_type("google_bigquery_dataset")["audit"]["dataset_id"]), table[
        "table_id"
    ]


def _bigquery_table(tf: Module, body: dict[str, Any], key: str | None) -> str:
    """"dataset.table" a google_bigquery_table_iam_member instance grants on."""
    dataset_id, table_id = body["dataset_id"], body["table_id"]
    if dataset_id == "${each.value.dataset_id}" and table_id == "${each.value.table_id}":
        local = re.fullmatch(r"\$\{local\.(\w+)\}", body["for_each"])
        assert local and key is not None, body["for_each"]
        return ".".join(_table_resource_id(tf, tf.locals[local.group(1)][key]))
    if match := re.fullmatch(r"\$\{google_bigquery_table\.(\w+)\.dataset_id\}", dataset_id):
        assert table_id == f"${{google_bigquery_table.{match.group(1)}.table_id}}", table_id
        return ".".join(_table_resource_id(tf, f"${{google_bigquery_table.{match.group(1)}}}"))
    datasets = {
        "${local.raw_dataset_id}": tf.variables["raw_dataset_id"]["default"],
        "${local.analytics_dataset_id}": tf.variables["analytics_dataset_id"]["default"],
    }
    assert dataset_id in datasets, f"unexpected dataset {dataset_id}"
    if table_id == "${each.key}":
        table = key
    elif table_id == "${local.target_table_ids[each.key]}":
        # The created table's id, or the name itself: either way the instance's key.
        ids = tf.locals["target_table_ids"]
        assert "google_bigquery_table.target" in ids and "var.target_tables" in ids, ids
        table = key
    else:
        raise AssertionError(f"unexpected table_id {table_id}")
    assert table is not None
    return f"{datasets[dataset_id]}.{table}"


def _target(rtype: str, body: dict[str, Any]) -> str:
    for attribute in ("topic", "subscription", "service_account_id", "name"):
        if attribute in body:
            match = re.search(r"((?:google_\w+|local)\.\w+)", body[attribute])
            assert match, f"{rtype}.{attribute} does not reference a resource: {body[attribute]}"
            return match.group(1)
    raise AssertionError(f"no target in {rtype}")


def refers_to(expression: object, address: str) -> bool:
    return (
        isinstance(expression, str)
        and re.search(rf"\b{re.escape(address)}\b", expression) is not None
    )
