"""A deterministic synthetic league to seed a warehouse with Phase 2 data."""

from backfill.local.seed.league import PHASE2_SCHEMAS, TEAMS, generate_phase2

__all__ = ["PHASE2_SCHEMAS", "TEAMS", "generate_phase2"]
