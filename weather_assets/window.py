"""The partition window: the UTC days one run covers, in every shape the platform passes it on.

A run covers a contiguous range of UTC days (one daily partition, or a single-run backfill's range).
Python code, SQL files (`$start`, `$end`: UTC timestamps, end exclusive) and dbt (WEATHER_ASSETS_DBT_MIN_DATE,
WEATHER_ASSETS_DBT_MAX_DATE: ISO dates, max exclusive) all receive it from this one type. No Dagster here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator

import polars as pl

ONE_DAY = dt.timedelta(days=1)
# The incremental dbt models read their window from their process's environment (dbt_project/macros/utc_window.sql).
DBT_MIN_DATE_VAR = "WEATHER_ASSETS_DBT_MIN_DATE"
DBT_MAX_DATE_VAR = "WEATHER_ASSETS_DBT_MAX_DATE"


@dataclasses.dataclass(frozen=True, order=True)
class Window:
    """UTC days `first` .. `last`, both included."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def day(cls, day: dt.date) -> Window:
        return cls(day, day)

    @classmethod
    def from_bounds(cls, start: dt.datetime, end: dt.datetime) -> Window:
        """From half-open UTC bounds on midnights, as Dagster's `partition_time_window` gives them."""
        return cls(start.date(), (end - ONE_DAY).date())

    @classmethod
    def trailing(cls, newest: dt.date, days: int, earliest: dt.date) -> Window | None:
        """`days` days ending on `newest`, cut at `earliest` (the first partition); None if nothing is left."""
        first = max(earliest, newest - dt.timedelta(days=days - 1))
        return cls(first, newest) if newest >= first else None

    @property
    def days(self) -> tuple[dt.date, ...]:
        return tuple(self.first + dt.timedelta(days=i) for i in range(len(self)))

    @property
    def start(self) -> dt.datetime:
        """Midnight UTC starting `first`, naive (the warehouse stores naive UTC)."""
        return dt.datetime.combine(self.first, dt.time())

    @property
    def end(self) -> dt.datetime:
        """Midnight UTC after `last`, naive: the exclusive upper bound."""
        return dt.datetime.combine(self.last + ONE_DAY, dt.time())

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first} .. {self.last}"

    def chunks(self, days: int) -> Iterator[Window]:
        """Consecutive windows of at most `days` days covering this one."""
        first = self.first
        while first <= self.last:
            last = min(self.last, first + dt.timedelta(days=days - 1))
            yield Window(first, last)
            first = last + ONE_DAY

    @classmethod
    def covering(cls, days: Iterable[dt.date]) -> list[Window]:
        """The fewest windows covering exactly `days`: one per run of consecutive days, in order."""
        windows: list[Window] = []
        for day in sorted(set(days)):
            if windows and day == windows[-1].last + ONE_DAY:
                windows[-1] = cls(windows[-1].first, day)
            else:
                windows.append(cls.day(day))
        return windows

    def sql_params(self) -> dict[str, dt.datetime]:
        """The SQL files' window parameters: `$start` and `$end` (end exclusive)."""
        return {"start": self.start, "end": self.end}

    def dbt_environment(self) -> dict[str, str]:
        """The incremental dbt models' window, for their process's environment: ISO dates, max exclusive."""
        return {DBT_MIN_DATE_VAR: self.first.isoformat(), DBT_MAX_DATE_VAR: (self.last + ONE_DAY).isoformat()}

    def rows_in(self, frame: pl.DataFrame, time_column: str) -> pl.DataFrame:
        """`frame`'s rows on the window's days: hours of a UTC timestamp column, or days of a date column."""
        if frame.schema[time_column] == pl.Date:
            return frame.filter(pl.col(time_column).is_between(self.first, self.last))
        return frame.filter(pl.col(time_column).is_between(self.start, self.end, closed="left"))


def newest_complete_day(now: dt.datetime, lag_days: int) -> dt.date:
    """The newest UTC day a provider publishing `lag_days` behind has complete at `now`."""
    return now.astimezone(dt.UTC).date() - dt.timedelta(days=lag_days)
