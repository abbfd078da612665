"""The site catalog under hostile or very large input: refused at once and cheaply, or loaded in full.

Timing targets live in benchmarks, not here; these tests check results, and bound memory where the
point is that memory stays small.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import string
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from pathlib import Path

import pytest
import yaml

from weather_assets.sites import catalog, yaml_reader
from weather_assets.sites.catalog import MAX_CATALOG_BYTES, CatalogError, load_catalog, parse_catalog

SITE = "    latitude: 10.5\n    longitude: 20.25\n    timezone: Europe/Paris\n"
_PURE_PYTHON_LOADER = type("PurePythonLoader", (yaml_reader.EventBuilder, yaml.SafeLoader), {})


@pytest.fixture(params=["libyaml", "pure_python"])
def loader(request, monkeypatch):
    """Run a test with the libyaml-based loader and again with the pure-Python fallback."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML built without libyaml")
    else:
        monkeypatch.setattr(catalog, "CatalogLoader", _PURE_PYTHON_LOADER)
    return request.param


def _write(tmp_path: Path, text: str, name: str = "sites.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _alias_bomb() -> str:
    """The "billion laughs": 9 levels of 9 aliases each, 9**9 (387M) strings once expanded."""
    letters = string.ascii_lowercase
    lines = ["a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for prev, cur in zip(letters[:8], letters[1:9], strict=True):
        lines.append(f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]")
    lines.append("sites:\n  - id: bomb\n    name: *i\n    latitude: 1\n    longitude: 2\n    timezone: UTC")
    return "\n".join(lines) + "\n"


# --- anchors and aliases ------------------------------------------------------------------------


def test_alias_bomb_is_refused_at_once_with_little_memory(tmp_path, loader):
    path = _write(tmp_path, _alias_bomb())
    assert path.stat().st_size < 500
    tracemalloc.start()
    try:
        with pytest.raises(CatalogError) as info:
            load_catalog(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{path}: line 1: YAML anchors/aliases (&a / *a) are not allowed in the site catalog "
        "(found the anchor &a); write each value out in full"
    )
    assert peak < 5 * 2**20, peak


def test_alias_bomb_is_refused_under_a_1_gib_address_space_limit(tmp_path):
    """The same in a fresh process that cannot grow past 1 GiB (the unguarded load took 2.5-6 GB)."""
    pytest.importorskip("resource")
    path = _write(tmp_path, _alias_bomb())
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from weather_assets.sites.catalog import CatalogError, load_catalog
        try:
            load_catalog(sys.argv[1])
        except CatalogError as exc:
            print(exc)
            try:  # this process's peak RSS (ru_maxrss would count the forking parent's)
                with open("/proc/self/status") as status:
                    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
            except OSError:
                print(0)
        else:
            sys.exit("the bomb loaded")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    message, peak_rss_kib = done.stdout.strip().splitlines()
    assert message.startswith(f"{path}: line 1: YAML anchors/aliases (&a / *a) are not allowed")
    assert int(peak_rss_kib) < 200 * 1024  # a Python process with yaml imported: ~20 MB


@pytest.mark.parametrize(
    ("text", "line", "found"),
    [
        ("sites:\n  - &first\n    id: a\n    name: A\n" + SITE, 2, "anchor &first"),
        ("sites:\n  - id: a\n    name: &n A\n" + SITE, 3, "anchor &n"),
        ("zone: &z Europe/Paris\nsites: []\n", 1, "anchor &z"),
        ("sites:\n  - id: a\n    name: *n\n" + SITE, 3, "alias *n"),
        ("sites:\n  - {id: a, name: A, latitude: 1, longitude: 2, timezone: UTC, stations: *s}\n", 2, "alias *s"),
        ("base: &base {timezone: UTC}\nsites:\n  - <<: *base\n    id: a\n", 1, "anchor &base"),
    ],
)
def test_any_anchor_or_alias_is_refused_naming_file_and_line(tmp_path, loader, text, line, found):
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.problems == (
        f"{path}: line {line}: YAML anchors/aliases (&a / *a) are not allowed in the site catalog "
        f"(found the {found}); write each value out in full",
    )


def test_ampersand_and_asterisk_inside_values_are_fine(tmp_path, loader):
    path = _write(tmp_path, "sites:\n  - id: a\n    name: Minneapolis & St. Paul *north*\n" + SITE)
    assert load_catalog(path)[0].name == "Minneapolis & St. Paul *north*"


# --- size limits --------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "sites.yaml"
    with path.open("wb") as handle:  # sparse: costs no disk; NUL bytes would not even parse
        handle.truncate(MAX_CATALOG_BYTES + 1)
    monkeypatch.setattr(catalog, "_load_yaml", lambda *_: pytest.fail("parsed an over-size file"))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(info.value) == (
        f"{path}: the site catalog is too large: {MAX_CATALOG_BYTES + 1:,} bytes, over the limit of "
        f"{MAX_CATALOG_BYTES:,} bytes (32 MiB, room for ~110,000 sites); refused unparsed"
    )


def test_size_limit_allows_tens_of_thousands_of_sites():
    bundled = catalog.bundled_sites_file()
    bytes_per_site = bundled.stat().st_size / len(load_catalog(bundled))  # comments included
    assert MAX_CATALOG_BYTES / bytes_per_site > 100_000


def test_stream_without_a_size_is_read_only_up_to_the_limit(tmp_path, monkeypatch):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    monkeypatch.setattr(catalog, "MAX_CATALOG_BYTES", 1000)
    path = tmp_path / "sites.fifo"
    os.mkfifo(path)

    def feed() -> None:
        with path.open("wb") as pipe:
            try:
                pipe.write(b"sites:\n" + b"  - {id: a}\n" * 1000)
            except BrokenPipeError:
                pass  # the reader stopped at the limit, as it should

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(CatalogError, match=rf"^{path}: the site catalog is too large: more than 1,000 bytes"):
        load_catalog(path)
    writer.join(timeout=10)


def test_document_over_the_node_limit_is_refused_where_it_stands(tmp_path, monkeypatch, loader):
    monkeypatch.setattr(catalog, "MAX_CATALOG_NODES", 40)
    sites = "".join(f"  - id: s{i}\n    name: S\n" + SITE for i in range(5))  # 11 nodes a site
    path = _write(tmp_path, "sites:\n" + sites)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.problems == (
        f"{path}: line 18: the site catalog has more than 40 YAML values, lists and mappings "
        "(a site has 11 to ~25); refused here",
    )


def test_problems_stop_at_the_cap():
    with pytest.raises(CatalogError) as info:
        parse_catalog({"sites": [{}] * 5000}, source="big.yaml")
    problems = info.value.problems
    assert len(problems) == catalog.MAX_PROBLEMS + 1
    assert problems[0] == "big.yaml: site #1: field 'id': is required"
    assert problems[-1] == (
        f"big.yaml: stopped after the first {catalog.MAX_PROBLEMS} problems; fix these to see the rest"
    )


def test_messages_quote_at_most_a_short_piece_of_a_huge_value():
    huge = "x" * 1_000_000
    site = {
        "id": "A" * 1_000_000,
        "name": [huge] * 1000,
        "latitude": 10**5000,
        "longitude": huge,
        "timezone": "Z" * 100_000,
        "elevation_m": {huge: huge},
        "stations": {"P" * 1_000_000: 5, "nws": 10**400, "meteostat": [huge]},
        huge: 1,
    }
    with pytest.raises(CatalogError) as info:
        parse_catalog({"sites": [site], huge: 2}, source="s.yaml")
    problems = info.value.problems
    assert len(problems) == 11
    for line in problems:
        assert len(line) < 500, line[:300]
    assert "field 'latitude': must be a number between -90 and 90, got <an integer of 16,610 bits>" in str(info.value)


def test_base60_integer_bomb_is_refused(tmp_path, loader):
    path = _write(tmp_path, "sites:\n  - id: a\n    latitude: 1" + ":00" * 100_000 + "\n")
    with pytest.raises(CatalogError, match=r"not valid YAML: base-60 integer too long \(300,001 characters\)"):
        load_catalog(path)


def test_impossible_date_is_a_catalog_error_not_a_crash(tmp_path, loader):
    path = _write(tmp_path, "sites:\n  - id: a\n    name: 2024-02-30\n" + SITE)
    with pytest.raises(CatalogError, match=rf"^{path}: not valid YAML: cannot read '2024-02-30' as "):
        load_catalog(path)


# --- a large catalog ----------------------------------------------------------------------------

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney", "UTC", "Pacific/Auckland")


def _big_catalog(count: int) -> str:
    lines = ["# generated", "sites:"]
    for i in range(count):
        lines += [
            f"  - id: site_{i:05d}",
            f"    name: Site {i}, Somewhere",
            f"    latitude: {(i % 18000) / 100 - 90:.2f}",
            f"    longitude: {(i * 7 % 36000) / 100 - 180:.2f}",
            f"    timezone: {ZONES[i % len(ZONES)]}",
            f"    elevation_m: {i % 9000 - 400}",
            "    stations:",
            f"      nws: K{i % 10000:04d}",
            f'      meteostat: "{i % 100000:05d}"',
        ]
    return "\n".join(lines) + "\n"


def test_fifty_thousand_site_catalog_loads_in_full(tmp_path, loader):
    count = 50_000 if loader == "libyaml" else 2_000  # the pure-Python parser: ~1 ms a site
    path = _write(tmp_path, _big_catalog(count))
    sites = load_catalog(path)
    assert len(sites) == count
    assert len({s.id for s in sites}) == count
    for i in (0, 1, 777, count * 5 // 8, count - 1):
        site = sites[i]
        assert site.id == f"site_{i:05d}"
        assert site.name == f"Site {i}, Somewhere"
        assert site.latitude == round((i % 18000) / 100 - 90, 2)
        assert site.longitude == round((i * 7 % 36000) / 100 - 180, 2)
        assert site.timezone == ZONES[i % len(ZONES)]
        assert site.elevation_m == float(i % 9000 - 400) and isinstance(site.elevation_m, float)
        assert dict(site.stations) == {"nws": f"K{i % 10000:04d}", "meteostat": f"{i % 100000:05d}"}


def test_errors_in_a_large_catalog_are_all_found(tmp_path):
    text = _big_catalog(20_000)
    text = text.replace("timezone: Asia/Kolkata", "timezone: Asia/Kolkatta", 1)
    text = text.replace("id: site_19999", "id: site_00007")
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.problems == (
        f"{path}: site #3 'site_00002': field 'timezone': unknown IANA time zone 'Asia/Kolkatta' "
        "(did you mean 'Asia/Kolkata'?)",
        f"{path}: site #20000 'site_00007': field 'id': duplicate id 'site_00007' "
        "(site #8 and site #20000 both use it)",
    )


# --- the loader gives what yaml.safe_load gives ---------------------------------------------------

SAME_AS_SAFE_LOAD = [
    "a: 1\nb: -2\nc: +3\nd: 0\ne: 010\nf: 0x1F\ng: 0b101\nh: 1_000\ni: 1:30\nj: -0\nk: 123456789012345678901234\n",
    "a: 1.5\nb: -0.0\nc: .5\nd: 1.\ne: 6.8523015e+5\nf: 1e3\ng: .inf\nh: -.Inf\ni: .NaN\nj: 1_000.5\nk: 1:30.5\n",
    "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: ~\nh: null\ni:\nj: y\nk: n\nl: ''\n",
    "a: 2024-01-15\nb: 2024-01-15T12:30:00Z\nc: 2001-12-14 21:59:43.10 -5\n",
    "a: '03772'\nb: \"a\\tb\"\nc: !!str 123\nd: ! 12\ne: !!int '7'\nf: !!float '1'\ng: |\n  x\n  y\nh: >\n  p\n  q\n",
    "ä: Zürich — 東京\n'quoted key': 1\n\"1\": 2\n1: 3\n2.5: 4\nfalse: 5\n~: 6\n",
    "sites: [{id: a, stations: {nws: KGSO}}, [1, 2, [3, []]], {}, '', null]\n",
    "b: !!binary aGVsbG8=\nt: !!timestamp 2024-01-01\nm: !!map {a: 1}\ns: !!seq [1]\nn: !!null ''\n",
    "- 1\n- - 2\n  - 3\n- a: b\n",
    "just a string\n",
    "",
    "# only a comment\n",
    "---\n",
    "--- >\n  folded\n...\n",
]


@pytest.mark.parametrize("text", SAME_AS_SAFE_LOAD)
def test_loader_reads_like_safe_load(text, loader):
    assert repr(catalog._load_yaml(text, "s.yaml")) == repr(yaml.safe_load(text))  # repr: NaN != NaN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: 2\na: 3\n", "found duplicate key 'a'"),
        ("{a: 1, b: {c: 1, c: 2}}\n", "found duplicate key 'c'"),
        ("1: a\n1.0: b\n", "found duplicate key 1.0"),
        ("? [a]\n: 1\n", "found unhashable key"),
        ("? {a: 1}\n: 1\n", "found unhashable key"),
        ("--- a\n--- b\n", "expected a single document in the stream"),
        ("a: [1, 2\n", "while parsing a flow sequence"),
        ("a: =\n", "could not determine a constructor for the tag 'tag:yaml.org,2002:value'"),
        ("<<: {a: 1}\n", "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'"),
        ("a: !!python/name:os.system\n", "could not determine a constructor for the tag"),
        ("a: !!set {x, y}\n", "the YAML tag 'tag:yaml.org,2002:set' is not supported in the site catalog"),
        ("a: !!omap [x: 1]\n", "the YAML tag 'tag:yaml.org,2002:omap' is not supported"),
        ("a: !custom [1]\n", "the YAML tag '!custom' is not supported"),
        ("a: !!seq x\n", "expected a sequence node, but found scalar"),
    ],
)
def test_bad_yaml_is_a_catalog_error_naming_the_file(tmp_path, loader, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid YAML: "), message
    assert expected in message
    assert "\n" not in message and len(message) < 1200


def test_deep_nesting_is_refused(tmp_path, loader):
    path = _write(tmp_path, "sites: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(CatalogError, match=rf"^{path}: not valid YAML: .*(nesting depth|nested more than 1000)"):
        load_catalog(path)
    data = catalog._load_yaml("sites: " + "[" * 500 + "]" * 500, "s.yaml")["sites"]
    depth = 0
    while data:
        data, depth = data[0], depth + 1
    assert depth == 499  # the innermost list is empty


def test_garbage_collector_is_restored(tmp_path):
    path = _write(tmp_path, "sites:\n  - id: a\n    name: A\n" + SITE)
    bad = _write(tmp_path, "sites: [", name="bad.yaml")
    assert gc.isenabled()
    try:
        load_catalog(path)
        assert gc.isenabled()
        with pytest.raises(CatalogError):
            load_catalog(bad)
        assert gc.isenabled()
        gc.disable()
        load_catalog(path)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_scalar_types_reach_validation_as_before(tmp_path, loader):
    text = (
        "sites:\n  - id: a\n    name: A\n    latitude: 1:31\n    longitude: .inf\n    timezone: UTC\n"
        "    elevation_m: 0x10\n    stations: {nws: 2024-01-01, meteostat: 03772}\n"
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(_write(tmp_path, text))
    lines = str(info.value).splitlines()
    assert any("field 'latitude': must be a number between -90 and 90, got 91" in line for line in lines)
    assert any("field 'longitude': must be a number between -180 and 180, got inf" in line for line in lines)
    assert any(f"got {dt.date(2024, 1, 1)!r}" in line for line in lines)
    assert any("got the number 2042" in line for line in lines)
    assert not any("elevation_m" in line for line in lines)  # 0x10 is 16
