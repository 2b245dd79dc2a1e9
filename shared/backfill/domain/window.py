"""Date windows; "today" is a date in the pipeline's time zone (game dates are US Eastern)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backfill.domain.errors import ConfigurationError

DEFAULT_TIMEZONE = "America/New_York"
# The widest window a caller may ask for: ten seasons. Wider is a mistake, not a backfill, and
# with the first and last dates bounded too, every date arithmetic on a window stays in range.
MAX_WINDOW_DAYS = 3653
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DAYS_AHEAD = 366


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The current date in `timezone`; `now` (aware) is injectable for tests."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {timezone!r}") from None
    return (now or datetime.now(zone)).astimezone(zone).date()


@dataclass(frozen=True)
class Window:
    """Inclusive range of game dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ConfigurationError(f"start date {self.start} is after end date {self.end}")

    @classmethod
    def lookback(cls, days: int, today: date) -> Window:
        """The `days` dates before `today` and today itself (games finish late, so include it)."""
        if days < 0:
            raise ConfigurationError(f"lookback days must be 0 or more, got {days}")
        return cls(today - timedelta(days=days), today)

    def problem(self, today: date) -> str | None:
        """Why this window is not one a caller may ask for (see MAX_WINDOW_DAYS), if it is not."""
        latest = today + timedelta(days=LATEST_DAYS_AHEAD)
        if self.start < EARLIEST_DATE:
            return f"start_date {self.start} is before {EARLIEST_DATE}"
        if self.end > latest:
            return f"end_date {self.end} is more than {LATEST_DAYS_AHEAD} days after today"
        days = (self.end - self.start).days + 1
        if days > MAX_WINDOW_DAYS:
            return (f"the window {self.start}..{self.end} is {days} days, more than "
                    f"{MAX_WINDOW_DAYS} (ten seasons)")
        return None

    def dates(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def as_dict(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}
