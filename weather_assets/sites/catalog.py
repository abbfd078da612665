"""The site catalog: which places the platform pulls weather for (docs/design.md §2 "Site catalog").

The catalog is a YAML file validated in full at load time. Every problem is collected and reported in
one `CatalogError`, one line per problem, each naming the file, the site (position and id) and the
field — so a user fixing a hand-edited catalog sees everything wrong at once instead of one error per
attempt.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import zoneinfo
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CatalogError", "Site", "load_catalog", "parse_catalog", "ALLOWED_FIELDS", "REQUIRED_FIELDS"]

REQUIRED_FIELDS = ("id", "name", "latitude", "longitude", "timezone")
OPTIONAL_FIELDS = ("elevation_m", "stations")
ALLOWED_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
TOP_LEVEL_FIELDS = ("sites",)

_ID_RE = re.compile(r"[a-z0-9_]+")
_PROVIDER_RE = re.compile(r"[a-z0-9_]+")
# "+05:30", "-0800", "UTC+5", "GMT-03:00", "Z": offsets are not places; a site's local day must follow
# its zone's DST rules, which only an IANA name carries.
_OFFSET_RE = re.compile(r"(?:UTC|GMT)?\s*[+-]\s*\d{1,2}(?::?\d{2})?|Z", re.IGNORECASE)


class CatalogError(ValueError):
    """The site catalog cannot be used. `problems` holds one line per problem found."""

    def __init__(self, problems: list[str] | tuple[str, ...] | str) -> None:
        self.problems: tuple[str, ...] = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


def _empty_stations() -> Mapping[str, str]:
    return types.MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class Site:
    """One place in the catalog. `timezone` defines the site's local calendar day for daily metrics."""

    id: str
    name: str
    latitude: float
    longitude: float
    timezone: str
    elevation_m: float | None = None
    # provider name -> that provider's station id (e.g. "nws": "KGSO"); read-only. Excluded from the
    # hash (a mapping is not hashable) but still compared by ==.
    stations: Mapping[str, str] = dataclasses.field(default_factory=_empty_stations, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.stations, types.MappingProxyType):
            object.__setattr__(self, "stations", types.MappingProxyType(dict(self.stations)))

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def bundled_sites_file() -> Path:
    """The catalog shipped in the package (WEATHER_ASSETS_SITES_FILE unset)."""
    return Path(str(resources.files("weather_assets.sites").joinpath("sites.yaml")))


def load_catalog(path: str | os.PathLike[str]) -> tuple[Site, ...]:
    """Read and validate a catalog file; sites come back in file order."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{source}: site catalog file not found") from None
    except IsADirectoryError:
        raise CatalogError(f"{source}: is a directory, expected a site catalog YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: cannot read the site catalog: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise CatalogError(f"{source}: not valid YAML: {detail}") from None
    return parse_catalog(data, source=source)


def parse_catalog(data: object, *, source: str) -> tuple[Site, ...]:
    """Validate an already-parsed catalog document (the object `yaml.safe_load` returns).

    `source` names where the data came from in error messages (normally the file path).
    """
    problems: list[str] = []
    if data is None:
        raise CatalogError(f"{source}: the site catalog is empty; expected a mapping with a 'sites' list")
    if not isinstance(data, Mapping):
        raise CatalogError(
            f"{source}: top level must be a mapping with a 'sites' list, got {_type_name(data)}"
        )
    for key in data:
        if key not in TOP_LEVEL_FIELDS:
            problems.append(f"{source}: unknown top-level field {key!r}{_suggest(key, TOP_LEVEL_FIELDS)}")
    if "sites" not in data:
        problems.append(f"{source}: missing the 'sites' list")
        raise CatalogError(problems)
    raw_sites = data["sites"]
    if not isinstance(raw_sites, list):
        problems.append(f"{source}: field 'sites' must be a list of sites, got {_type_name(raw_sites)}")
        raise CatalogError(problems)
    if not raw_sites:
        problems.append(f"{source}: field 'sites' is empty; the catalog needs at least one site")
        raise CatalogError(problems)

    sites: list[Site] = []
    first_position: dict[str, int] = {}
    for position, raw in enumerate(raw_sites, start=1):
        site = _parse_site(raw, position, source, problems)
        # Duplicates are checked on the raw id, so a site with other problems still reports them too.
        site_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(site_id, str) and _ID_RE.fullmatch(site_id):
            if site_id in first_position:
                other = first_position[site_id]
                problems.append(
                    f"{source}: site #{position} {site_id!r}: field 'id': duplicate id {site_id!r} "
                    f"(site #{other} and site #{position} both use it)"
                )
                continue
            first_position[site_id] = position
        if site is not None:
            sites.append(site)

    if problems:
        raise CatalogError(problems)
    return tuple(sites)


def _parse_site(raw: object, position: int, source: str, problems: list[str]) -> Site | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{source}: site #{position}: must be a mapping of fields, got {_type_name(raw)}")
        return None

    raw_id = raw.get("id")
    label = f"site #{position} {raw_id!r}" if isinstance(raw_id, str) and raw_id else f"site #{position}"
    before = len(problems)

    def problem(field: str, message: str) -> None:
        problems.append(f"{source}: {label}: field {field!r}: {message}")

    for key in raw:
        if key not in ALLOWED_FIELDS:
            problems.append(
                f"{source}: {label}: unknown field {key!r}{_suggest(key, ALLOWED_FIELDS)}; "
                f"allowed fields: {', '.join(ALLOWED_FIELDS)}"
            )
    for field in REQUIRED_FIELDS:
        if field not in raw or raw[field] is None:
            problem(field, "is required")

    site_id = raw.get("id")
    if site_id is not None:
        if not isinstance(site_id, str):
            problem("id", f"must be a string of [a-z0-9_], got {_type_name(site_id)} {site_id!r}")
        elif not _ID_RE.fullmatch(site_id):
            problem("id", f"must match [a-z0-9_]+ (lower-case letters, digits, underscore), got {site_id!r}")

    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problem("name", f"must be a non-empty string, got {name!r}")

    latitude = _number(raw.get("latitude"), -90, 90, "latitude", problem)
    longitude = _number(raw.get("longitude"), -180, 180, "longitude", problem)

    tz = raw.get("timezone")
    if tz is not None:
        _check_timezone(tz, problem)

    elevation = raw.get("elevation_m")
    elevation_m: float | None = None
    if elevation is not None:
        # The lowest land is about -430 m (Dead Sea shore), the highest 8849 m.
        elevation_m = _number(elevation, -500, 9000, "elevation_m", problem, unit=" m")

    stations = _parse_stations(raw.get("stations"), problem)

    if len(problems) > before:
        return None
    assert latitude is not None and longitude is not None
    return Site(
        id=site_id,
        name=name.strip(),
        latitude=latitude,
        longitude=longitude,
        timezone=tz,
        elevation_m=elevation_m,
        stations=stations,
    )


def _number(value: Any, low: float, high: float, field: str, problem, unit: str = "") -> float | None:
    if value is None:
        return None
    expected = f"must be a number between {_fmt(low)} and {_fmt(high)}{unit}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(field, f"{expected}, got {_type_name(value)} {value!r}")
        return None
    number = float(value)
    if math.isnan(number) or not low <= number <= high:
        problem(field, f"{expected}, got {value!r}")
        return None
    return number


def _check_timezone(tz: Any, problem) -> None:
    if not isinstance(tz, str) or not tz.strip():
        problem("timezone", f"must be an IANA time zone name such as 'Europe/Berlin', got {tz!r}")
        return
    if _OFFSET_RE.fullmatch(tz.strip()):
        problem(
            "timezone",
            f"must be an IANA time zone name such as 'Asia/Kolkata', not a UTC offset; got {tz!r} "
            "(an offset has no daylight-saving rules, so the site's local day would be wrong part of "
            "the year)",
        )
        return
    if tz == "localtime":
        problem("timezone", "'localtime' depends on the machine; use an IANA name such as 'America/New_York'")
        return
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        candidates = difflib.get_close_matches(tz, sorted(zoneinfo.available_timezones()), n=1)
        hint = f" (did you mean {candidates[0]!r}?)" if candidates else ""
        problem("timezone", f"unknown IANA time zone {tz!r}{hint}")


def _parse_stations(raw: Any, problem) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(
            "stations",
            f"must be a mapping of provider name to station id (e.g. nws: KGSO), got {_type_name(raw)}",
        )
        return {}
    stations: dict[str, str] = {}
    for provider, station in raw.items():
        field = f"stations.{provider}"
        if not isinstance(provider, str) or not _PROVIDER_RE.fullmatch(provider):
            problem(field, f"provider name must match [a-z0-9_]+, got {provider!r}")
            continue
        if isinstance(station, bool) or isinstance(station, int | float):
            problem(
                field,
                f"station id must be a quoted string, got the number {station!r}: write "
                f'{provider}: "{station}" (YAML reads unquoted digits as a number and drops leading '
                "zeros, e.g. 03772 becomes an octal 2042)",
            )
            continue
        if not isinstance(station, str) or not station.strip():
            problem(field, f"station id must be a non-empty string, got {station!r}")
            continue
        stations[provider] = station.strip()
    return stations


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: let the base constructor report it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _suggest(key: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(key, str):
        return ""
    matches = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing (null)",
    }.get(type(value), type(value).__name__)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
