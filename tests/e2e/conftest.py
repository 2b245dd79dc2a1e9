"""The seeded-warehouse fixtures of tests/support.py, for this tier."""

from tests.support import seeded_template, settings, warehouse, warehouse_path

__all__ = ["seeded_template", "settings", "warehouse", "warehouse_path"]
