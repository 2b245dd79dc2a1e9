"""Terraform's variables that set what a Backfill setting sets say the same thing: the setting's
own description (shared/backfill/settings.py, written once), its environment variable, then
anything Terraform adds."""

from __future__ import annotations

import pytest
from backfill.settings import ENVIRONMENT, description

from tests.terraform.hcl import Module, load_module

# Setting -> the Terraform variable that sets it.
OVERLAP = {"timezone": "backfill_timezone", "max_delivery_attempts": "max_delivery_attempts",
           "dependency_wait_seconds": "dependency_wait_seconds",
           "maximum_bytes_billed": "maximum_bytes_billed",
           "run_stall_minutes": "run_stall_minutes", "raw_dataset": "raw_dataset_id",
           "analytics_dataset": "analytics_dataset_id", "audit_dataset": "audit_dataset_id",
           "requests_topic": "requests_topic_name", "dead_letter_topic": "dead_letter_topic_name",
           "dead_letter_subscription": "dead_letter_subscription_name",
           "push_subscription": "requests_subscription_name",
           "lookback_days": "detector_lookback_days", "audit_topic": "audit_topic_name",
           "audit_subscription": "audit_subscription_name"}


@pytest.fixture(scope="module")
def tf() -> Module:
    return load_module()


@pytest.mark.parametrize(("setting", "variable"), sorted(OVERLAP.items()))
def test_a_variable_describes_its_setting_in_the_settings_own_words(
        tf: Module, setting: str, variable: str) -> None:
    written = tf.variables[variable]["description"]
    assert written.startswith(f"{description(setting)} ({ENVIRONMENT[setting]})."), written
