"""The site catalog: which places the platform pulls weather for (docs/design.md §2 "Site catalog").

The catalog is a YAML file validated in full at load time. Every problem is collected and reported in
one `CatalogError`, one line per problem, each naming the file, the site (position and id) and the
field — so a user fixing a hand-edited catalog sees everything wrong at once instead of one error per
attempt.

Bad input costs little and never becomes data: a file over MAX_CATALOG_BYTES is refused unread, YAML
anchors and aliases at the first one (nothing is expanded: a 400-byte "billion laughs" file used to
take gigabytes), a document past MAX_CATALOG_NODES values where it stands, validation stops at
MAX_PROBLEMS problems, and a message quotes at most ~80 characters of any value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import gc
import math
import os
import re
import types
import zoneinfo
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.events import AliasEvent

from weather_assets.sites.yaml_reader import CatalogLoader, Refused, TooManyNodes, clip, show

__all__ = [
    "CatalogError",
    "Site",
    "load_catalog",
    "parse_catalog",
    "ALLOWED_FIELDS",
    "REQUIRED_FIELDS",
    "MAX_CATALOG_BYTES",
    "MAX_CATALOG_NODES",
    "MAX_PROBLEMS",
]

REQUIRED_FIELDS = ("id", "name", "latitude", "longitude", "timezone")
OPTIONAL_FIELDS = ("elevation_m", "stations")
ALLOWED_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
_ALLOWED_FIELD_SET = frozenset(ALLOWED_FIELDS)
TOP_LEVEL_FIELDS = ("sites",)

# Bytes per site: ~290 in the bundled file (comments included), ~240 in a generated 50,000-site file
# with every field and three station ids. 32 MiB holds ~110,000 such sites (~30,000 even at a lavish
# 1 KiB each) and bounds what a bad file can cost: the load is linear in the size (50,000 sites,
# 12 MB: ~1.5 s, ~130 MB peak RSS), so ~4 s and ~0.35 GB at the limit.
MAX_CATALOG_BYTES = 32 * 1024 * 1024
# The same bound counted in YAML nodes (scalars, lists, mappings): a full site is ~21 (11 with the
# required fields only), so 3,000,000 holds ~140,000 full sites, as many as 32 MiB does. It caps what
# a file of tiny values can cost within the byte limit: 32 MiB of `[a,a,a,...` is 16M values (~25 s,
# ~0.2 GB), of `[{},{},...` 11M mappings (~30 s, ~0.9 GB); at 3M values, ~3 s.
MAX_CATALOG_NODES = 3_000_000
# A hand-edited catalog with mistakes has a handful; thousands (e.g. 100,000 `{}` sites) is no catalog
# at all. Validation stops there so the error stays readable and its size bounded.
MAX_PROBLEMS = 1000

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
    text = _read_catalog_text(path, source)
    # Building ~1M objects (50,000 sites) would run the cyclic collector ~360 times, ~15% of the load;
    # nothing here makes reference cycles, so it is paused meanwhile (and left as the caller had it).
    with _gc_paused():
        data = _load_yaml(text, source)
        return parse_catalog(data, source=source)


def _read_catalog_text(path: str | os.PathLike[str], source: str) -> str:
    """The file's text, refusing a file over MAX_CATALOG_BYTES before reading (or parsing) it."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # A pipe or device reports no size (and a file may grow): read one byte past the limit
            # at most, in chunks (read(n) would allocate n bytes up front, even for a small file).
            raw = _read_at_most(handle, MAX_CATALOG_BYTES + 1) if size <= MAX_CATALOG_BYTES else b""
    except FileNotFoundError:
        raise CatalogError(f"{source}: site catalog file not found") from None
    except IsADirectoryError:
        raise CatalogError(f"{source}: is a directory, expected a site catalog YAML file") from None
    except OSError as exc:
        raise CatalogError(f"{source}: cannot read the site catalog: {exc}") from None
    if size > MAX_CATALOG_BYTES or len(raw) > MAX_CATALOG_BYTES:
        found = f"{size:,} bytes" if size > MAX_CATALOG_BYTES else f"more than {MAX_CATALOG_BYTES:,} bytes"
        raise CatalogError(
            f"{source}: the site catalog is too large: {found}, over the limit of {MAX_CATALOG_BYTES:,} "
            f"bytes ({MAX_CATALOG_BYTES / 2**20:g} MiB, room for ~{round(MAX_CATALOG_BYTES / 300, -4):,.0f} "
            "sites); refused unparsed"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{source}: cannot read the site catalog: {exc}") from None


def _read_at_most(handle: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _load_yaml(text: str, source: str) -> object:
    loader = CatalogLoader(text)
    loader.max_nodes = MAX_CATALOG_NODES
    try:
        return loader.build()
    except Refused as refused:
        raise CatalogError(f"{source}: line {refused.event.start_mark.line + 1}: {_refusal(refused)}") from None
    except yaml.YAMLError as exc:
        detail = clip(" ".join(str(exc).split()), 1000)
        raise CatalogError(f"{source}: not valid YAML: {detail}") from None
    finally:
        loader.dispose()


def _refusal(refused: Refused) -> str:
    event = refused.event
    if isinstance(refused, TooManyNodes):
        return (
            f"the site catalog has more than {MAX_CATALOG_NODES:,} YAML values, lists and mappings (a site "
            "has 11 to ~25); refused here"
        )
    name = clip(str(event.anchor), 40)
    what = f"alias *{name}" if isinstance(event, AliasEvent) else f"anchor &{name}"
    return (
        f"YAML anchors/aliases (&a / *a) are not allowed in the site catalog (found the {what}); "
        "write each value out in full"
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_catalog(data: object, *, source: str) -> tuple[Site, ...]:
    """Validate an already-parsed catalog document (the object `yaml.safe_load` returns).

    `source` names where the data came from in error messages (normally the file path). At most
    MAX_PROBLEMS problems are listed; past that the validation stops and says so.
    """
    problems = _Problems()
    try:
        sites = _parse_document(data, source, problems)
    except _TooManyProblems:
        list.append(
            problems,
            f"{source}: stopped after the first {MAX_PROBLEMS} problems; fix these to see the rest",
        )
        raise CatalogError(problems) from None
    if problems:
        raise CatalogError(problems)
    return sites


def _parse_document(data: object, source: str, problems: list[str]) -> tuple[Site, ...]:
    if data is None:
        raise CatalogError(f"{source}: the site catalog is empty; expected a mapping with a 'sites' list")
    if not isinstance(data, Mapping):
        raise CatalogError(
            f"{source}: top level must be a mapping with a 'sites' list, got {_type_name(data)}"
        )
    for key in data:
        if key not in TOP_LEVEL_FIELDS:
            problems.append(f"{source}: unknown top-level field {show(key)}{_suggest(key, TOP_LEVEL_FIELDS)}")
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
        site_id = raw.get("id") if type(raw) is dict or isinstance(raw, Mapping) else None
        if isinstance(site_id, str) and _ID_RE.fullmatch(site_id):
            if site_id in first_position:
                other = first_position[site_id]
                problems.append(
                    f"{source}: site #{position} {show(site_id)}: field 'id': duplicate id {show(site_id)} "
                    f"(site #{other} and site #{position} both use it)"
                )
                continue
            first_position[site_id] = position
        if site is not None:
            sites.append(site)
    return tuple(sites)


def _parse_site(raw: object, position: int, source: str, problems: list[str]) -> Site | None:
    if type(raw) is not dict and not isinstance(raw, Mapping):
        problems.append(f"{source}: site #{position}: must be a mapping of fields, got {_type_name(raw)}")
        return None

    raw_id = raw.get("id")
    before = len(problems)

    def label() -> str:  # built only for a message: most sites have none
        return f"site #{position} {show(raw_id)}" if isinstance(raw_id, str) and raw_id else f"site #{position}"

    def problem(field: str, message: str) -> None:
        problems.append(f"{source}: {label()}: field {show(field)}: {message}")

    for key in raw:
        if key not in _ALLOWED_FIELD_SET:
            problems.append(
                f"{source}: {label()}: unknown field {show(key)}{_suggest(key, ALLOWED_FIELDS)}; "
                f"allowed fields: {', '.join(ALLOWED_FIELDS)}"
            )
    for field in REQUIRED_FIELDS:
        if field not in raw or raw[field] is None:
            problem(field, "is required")

    site_id = raw.get("id")
    if site_id is not None:
        if not isinstance(site_id, str):
            problem("id", f"must be a string of [a-z0-9_], got {_type_name(site_id)} {show(site_id)}")
        elif not _ID_RE.fullmatch(site_id):
            problem("id", f"must match [a-z0-9_]+ (lower-case letters, digits, underscore), got {show(site_id)}")

    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problem("name", f"must be a non-empty string, got {show(name)}")

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
    if type(value) is float and low <= value <= high:  # the common case, first
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = f"{_type_name(value)} {show(value)}"
    else:
        try:
            number = float(value)
        except OverflowError:  # an integer past 1e308
            number = math.inf
        if low <= number <= high:  # False for NaN
            return number
        got = show(value)
    problem(field, f"must be a number between {_fmt(low)} and {_fmt(high)}{unit}, got {got}")
    return None


def _check_timezone(tz: Any, problem) -> None:
    if not isinstance(tz, str) or not tz.strip():
        problem("timezone", f"must be an IANA time zone name such as 'Europe/Berlin', got {show(tz)}")
        return
    message = _timezone_problem(tz)
    if message is not None:
        problem("timezone", message)


@functools.lru_cache(maxsize=4096)
def _timezone_problem(tz: str) -> str | None:
    """What is wrong with the zone name `tz`, or None. Cached: a catalog repeats a few hundred zones,
    and a ZoneInfo lookup (file system, tzdata parse) was ~3/4 of a site's validation time."""
    if _OFFSET_RE.fullmatch(tz.strip()):
        return (
            f"must be an IANA time zone name such as 'Asia/Kolkata', not a UTC offset; got {show(tz)} "
            "(an offset has no daylight-saving rules, so the site's local day would be wrong part of "
            "the year)"
        )
    if tz == "localtime":
        return "'localtime' depends on the machine; use an IANA name such as 'America/New_York'"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # IANA names are at most ~30 characters: nothing longer is a typo of one.
        candidates = difflib.get_close_matches(tz, _zone_names(), n=1) if len(tz) <= 64 else []
        hint = f" (did you mean {candidates[0]!r}?)" if candidates else ""
        return f"unknown IANA time zone {show(tz)}{hint}"
    return None


@functools.cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _parse_stations(raw: Any, problem) -> dict[str, str]:
    if raw is None:
        return {}
    if type(raw) is not dict and not isinstance(raw, Mapping):
        problem(
            "stations",
            f"must be a mapping of provider name to station id (e.g. nws: KGSO), got {_type_name(raw)}",
        )
        return {}
    stations: dict[str, str] = {}
    for provider, station in raw.items():
        if type(provider) is str and type(station) is str and _PROVIDER_RE.fullmatch(provider):
            stripped = station.strip()
            if stripped:  # the common case, first
                stations[provider] = stripped
                continue
        field = f"stations.{provider if isinstance(provider, str) else show(provider)}"
        if not isinstance(provider, str) or not _PROVIDER_RE.fullmatch(provider):
            problem(field, f"provider name must match [a-z0-9_]+, got {show(provider)}")
            continue
        if isinstance(station, bool) or isinstance(station, int | float):
            problem(
                field,
                f"station id must be a quoted string, got the number {show(station)}: write "
                f'{clip(provider, 60)}: "{show(station)}" (YAML reads unquoted digits as a number and '
                "drops leading zeros, e.g. 03772 becomes an octal 2042)",
            )
            continue
        if not isinstance(station, str) or not station.strip():
            problem(field, f"station id must be a non-empty string, got {show(station)}")
            continue
        stations[provider] = station.strip()
    return stations


class _TooManyProblems(Exception):
    pass


class _Problems(list):
    """The problem list of one validation; appending the MAX_PROBLEMS-th problem stops it."""

    def append(self, line: str) -> None:
        super().append(line)
        if len(self) >= MAX_PROBLEMS:
            raise _TooManyProblems


def _suggest(key: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(key, str) or len(key) > 64:
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
