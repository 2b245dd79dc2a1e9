"""The thirty franchises as NBA.com names them: tricodes, cities, nicknames, divisions."""

from __future__ import annotations

# Conference -> division -> tricodes (the NBA's alignment since 2004-05).
DIVISIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "East": {
        "Atlantic": ("BKN", "BOS", "NYK", "PHI", "TOR"),
        "Central": ("CHI", "CLE", "DET", "IND", "MIL"),
        "Southeast": ("ATL", "CHA", "MIA", "ORL", "WAS"),
    },
    "West": {
        "Northwest": ("DEN", "MIN", "OKC", "POR", "UTA"),
        "Pacific": ("GSW", "LAC", "LAL", "PHX", "SAC"),
        "Southwest": ("DAL", "HOU", "MEM", "NOP", "SAS"),
    },
}
EAST: tuple[str, ...] = tuple(sorted(t for d in DIVISIONS["East"].values() for t in d))
WEST: tuple[str, ...] = tuple(sorted(t for d in DIVISIONS["West"].values() for t in d))
TEAMS: tuple[str, ...] = tuple(sorted(EAST + WEST))
CONFERENCE: dict[str, str] = {t: "East" if t in EAST else "West" for t in TEAMS}

# The All-Star game's two sides: not franchises, never in TEAMS.
ALL_STAR_EAST, ALL_STAR_WEST = "EST", "WST"

# Tricode -> (city, nickname) as NBA.com's box scores print them.
NAMES: dict[str, tuple[str, str]] = {
    "ATL": ("Atlanta", "Hawks"), "BOS": ("Boston", "Celtics"), "BKN": ("Brooklyn", "Nets"),
    "CHA": ("Charlotte", "Hornets"), "CHI": ("Chicago", "Bulls"),
    "CLE": ("Cleveland", "Cavaliers"), "DAL": ("Dallas", "Mavericks"),
    "DEN": ("Denver", "Nuggets"), "DET": ("Detroit", "Pistons"),
    "GSW": ("Golden State", "Warriors"), "HOU": ("Houston", "Rockets"),
    "IND": ("Indiana", "Pacers"), "LAC": ("LA", "Clippers"), "LAL": ("Los Angeles", "Lakers"),
    "MEM": ("Memphis", "Grizzlies"), "MIA": ("Miami", "Heat"), "MIL": ("Milwaukee", "Bucks"),
    "MIN": ("Minnesota", "Timberwolves"), "NOP": ("New Orleans", "Pelicans"),
    "NYK": ("New York", "Knicks"), "OKC": ("Oklahoma City", "Thunder"),
    "ORL": ("Orlando", "Magic"), "PHI": ("Philadelphia", "76ers"), "PHX": ("Phoenix", "Suns"),
    "POR": ("Portland", "Trail Blazers"), "SAC": ("Sacramento", "Kings"),
    "SAS": ("San Antonio", "Spurs"), "TOR": ("Toronto", "Raptors"), "UTA": ("Utah", "Jazz"),
    "WAS": ("Washington", "Wizards"),
    ALL_STAR_EAST: ("East", "All-Stars"), ALL_STAR_WEST: ("West", "All-Stars"),
}
