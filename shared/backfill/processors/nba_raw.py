"""The Phase 2 contract: the original pipeline's `nba_raw` tables, as its public DDL defines them.

Only the columns listed here must exist (with these types); any other column is ignored. A
processors file may map these names onto a pipeline's own (`[processor.columns]`).
"""

from __future__ import annotations

from backfill.domain.tables import TableRef, schema

# Game types are read from the official id, so the schedule's is_* flags are not needed.
SCHEDULE = TableRef("nba_raw", "nbac_schedule")
SCHEDULE_COLUMNS = schema(
    game_id="STRING",            # the official id, 0022400561 (a postponed game keeps it)
    game_date="DATE",
    game_status="INT64",         # 1 scheduled, 2 live, 3 final; rows are appended
    home_team_tricode="STRING",
    away_team_tricode="STRING",
    processed_at="TIMESTAMP",    # the newest row of a (game_id, game_date) wins
)

TEAM_BOXSCORE = TableRef("nba_raw", "nbac_team_boxscore")
TEAM_BOXSCORE_COLUMNS = schema(
    game_id="STRING",            # date-based, 20250115_NYK_PHI (old rows may have it flipped)
    game_date="DATE",
    team_abbr="STRING",
    is_home="BOOL",
    minutes="STRING",            # "240:00"; "265:00" after one overtime
    fg_made="INT64", fg_attempted="INT64", three_pt_made="INT64", three_pt_attempted="INT64",
    ft_made="INT64", ft_attempted="INT64", offensive_rebounds="INT64",
    defensive_rebounds="INT64", assists="INT64", steals="INT64", blocks="INT64",
    turnovers="INT64", points="INT64",
    processed_at="TIMESTAMP",
)

GAMEBOOK = TableRef("nba_raw", "nbac_gamebook_player_stats")
GAMEBOOK_COLUMNS = schema(
    game_id="STRING",            # date-based, like the team box score's
    game_date="DATE",
    team_abbr="STRING",
    player_lookup="STRING",
    player_name="STRING",
    player_status="STRING",      # active, inactive or dnp
    minutes="STRING",            # "MM:SS"; "-", "DNP" or NULL for players who did not play
    points="INT64", field_goals_made="INT64", field_goals_attempted="INT64",
    three_pointers_made="INT64", three_pointers_attempted="INT64", free_throws_made="INT64",
    free_throws_attempted="INT64", total_rebounds="INT64", assists="INT64", turnovers="INT64",
    plus_minus="INT64",
    processed_at="TIMESTAMP",
)
