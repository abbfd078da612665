"""Small parsers the provider normalisers share: a JSON body, a number, a measure, a time, the site of a body.

Each raises the calling provider's own error type (`error`, a ValueError subclass) with a message that
starts with `where` (provider, endpoint, site...) and names the field and what was expected: a SHAPE error,
the whole body fails. A measure that does not parse (spec.py UNPARSED: text where a value belongs) raises
`UnparsedValue` instead, which `Unparsed.read` turns into a NULL measure and the row's raw text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from weather_assets.providers.spec import unparsed_json, unparsed_text
from weather_assets.sites.catalog import Site

Error = type[ValueError]

# strptime directives -> how the message spells them ("%Y-%m-%dT%H:%M:%S" -> "YYYY-MM-DDTHH:MM:SS").
_SPELLED = (("%Y", "YYYY"), ("%m", "MM"), ("%d", "DD"), ("%H", "HH"), ("%M", "MM"), ("%S", "SS"))


def load_json(body: bytes, where: str, error: Error = ValueError) -> Any:
    """A response body parsed as JSON."""
    try:
        return json.loads(body)
    except ValueError as exc:
        raise error(f"{where}: body is not JSON ({exc})") from None


def number(value: Any, field: str, where: str, error: Error = ValueError, *, required: bool = False) -> float | None:
    """A JSON number as a float; null (None) is None unless `required`. A string, a boolean, NaN or
    Infinity is a shape error."""
    if value is None:
        if required:
            raise error(f"{where}: '{field}' is missing, expected a number")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(f"{where}: '{field}' is {value!r}, expected a number")
    return float(value)


# A decimal number as text: "8.3", "-0.5", ".5", "1e3"; not "12,5", "1_000", "nan" or "inf".
DECIMAL_PATTERN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


class UnparsedValue(ValueError):
    """A measure's value does not parse (spec.py UNPARSED): `raw` is its text as received, capped.

    A ValueError, so one that escapes a normaliser fails the body loudly instead of passing as a NULL."""

    def __init__(self, value: Any, field: str, expected: str) -> None:
        self.raw = unparsed_text(value)
        super().__init__(f"'{field}' is {value!r}, expected {expected}")


def measure(value: Any, field: str, where: str, error: Error = ValueError) -> float | None:
    """A measure documented as a JSON number. Null is None; text ("abc", "12,5", even "8.3") and a NaN or
    Infinity literal do not parse (`UnparsedValue`); any other JSON type (boolean, object, array) is a shape error."""
    if value is None:
        return None
    if isinstance(value, str):
        raise UnparsedValue(value, field, "a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{where}: '{field}' is {value!r}, expected a number")
    if not math.isfinite(value):
        raise UnparsedValue(value, field, "a finite number")
    return float(value)


def measure_text(value: Any, field: str, where: str, error: Error = ValueError) -> float | None:
    """A measure documented as a number written as text ("8.3"). Absent or blank is None; text that is not a
    decimal number ("warm", "12,5") does not parse (`UnparsedValue`); a value that is not text is a shape error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"{where}: '{field}' is {value!r}, expected a number as a string")
    text = value.strip()
    if not text:
        return None
    if not _DECIMAL.match(text):
        raise UnparsedValue(value, field, "a number")
    parsed = float(text)
    if not math.isfinite(parsed):  # "1e999"
        raise UnparsedValue(value, field, "a finite number")
    return parsed


class Unparsed:
    """The values of one row that did not parse: {canonical column: raw text}, for the row's `unparsed`."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def read(self, column: str, parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`parse(*args, **kwargs)`, or None with the raw text kept under `column` when it raises
        `UnparsedValue` (the first raw text of a column that several fields feed is kept)."""
        try:
            return parse(*args, **kwargs)
        except UnparsedValue as exc:
            self.found.setdefault(column, exc.raw)
            return None

    def json(self) -> str | None:
        """The row's `unparsed` value: null when every value parsed."""
        return unparsed_json(self.found)


def parse_time(value: Any, field: str, where: str, error: Error = ValueError, *, fmt: str | None = None) -> dt.datetime:
    """A time field -> a naive datetime.

    Without `fmt`: an ISO-8601 instant WITH a UTC offset, returned as naive UTC. With `fmt` (a strptime
    format): text in exactly that format, returned as written; the caller knows its zone.
    """
    if not isinstance(value, str):
        raise error(f"{where}: '{field}' is missing or not a string ({value!r})")
    if fmt is not None:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            spelled = fmt
            for directive, text in _SPELLED:
                spelled = spelled.replace(directive, text)
            raise error(f"{where}: '{field}' {value!r} is not {spelled}") from None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise error(f"{where}: '{field}' {value!r} is not an ISO-8601 date-time") from None
    if moment.tzinfo is None:
        raise error(f"{where}: '{field}' {value!r} has no UTC offset")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def one_site(
    sites: Sequence[Site], meta: Mapping[str, Any], where: str, error: Error = ValueError, *, pick: bool = False
) -> Site:
    """The one site a per-site body was pulled for.

    `sites` must be exactly that site, and the landed meta's `site_id`, when it has one, must name it.
    With `pick`, `sites` may hold several and `site_id` picks the one.
    """
    site_id = meta.get("site_id")
    candidates = [s for s in sites if s.id == site_id] if pick and site_id else list(sites)
    if len(candidates) != 1:
        pulled_for = f" (pulled for site {site_id!r})" if site_id else ""
        raise error(
            f"{where}: cannot tell which site the body is for: it must be for exactly one site, "
            f"got {[s.id for s in sites]}{pulled_for}"
        )
    site = candidates[0]
    if site_id is not None and site_id != site.id:
        raise error(
            f"{where}: cannot tell which site the body is for: it was pulled for site {site_id!r}, not {site.id!r}"
        )
    return site
