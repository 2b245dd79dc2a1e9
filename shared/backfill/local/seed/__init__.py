"""A deterministic synthetic NBA league to seed a warehouse with the original pipeline's Phase 2
tables (nba_raw.nbac_schedule, nbac_team_boxscore, nbac_gamebook_player_stats)."""
