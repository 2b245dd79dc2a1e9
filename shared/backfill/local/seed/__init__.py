"""A deterministic synthetic NBA league to seed a warehouse with the original pipeline's Phase 2
tables (nba_raw.nbac_schedule, nbac_team_boxscore, nbac_gamebook_player_stats)."""

from backfill.local.seed.league import (
    GAMEBOOK,
    PHASE2_SCHEMAS,
    SCHEDULE,
    TEAM_BOXSCORE,
    TEAMS,
    TYPE_CODES,
    Game,
    box_score,
    generate_phase2,
    rosters,
    season,
)

__all__ = ["GAMEBOOK", "PHASE2_SCHEMAS", "SCHEDULE", "TEAMS",
           "TEAM_BOXSCORE", "TYPE_CODES", "Game", "box_score", "generate_phase2", "rosters",
           "season"]
