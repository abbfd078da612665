"""The site catalog: the bundled file loads, and every kind of mistake is named by file, site and field."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import types
import zoneinfo
from pathlib import Path

import pytest
import yaml

from weather_assets.sites.catalog import CatalogError, Site, bundled_sites_file, load_catalog, parse_catalog

BUNDLED = Path(__file__).resolve().parents[2] / "weather_assets" / "sites" / "sites.yaml"


@pytest.fixture(scope="module")
def bundled() -> tuple[Site, ...]:
    return load_catalog(BUNDLED)


def _offset(site: Site, when: dt.datetime) -> dt.timedelta:
    return when.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(site.timezone)).utcoffset()


# --- the bundled catalog ------------------------------------------------------------------------


def test_bundled_catalog_loads_fifteen_unique_sites(bundled):
    assert len(bundled) == 15
    ids = [s.id for s in bundled]
    assert len(set(ids)) == 15
    assert load_catalog(bundled_sites_file()) == bundled  # the path settings hands out is the same file


def test_bundled_catalog_spans_hemispheres_continents_and_offsets(bundled):
    by_id = {s.id: s for s in bundled}
    assert sum(s.latitude < 0 for s in bundled) >= 3
    assert {"sydney_au", "cape_town_za", "buenos_aires_ar"} <= set(by_id)
    january = dt.datetime(2024, 1, 15, 12)
    offsets = {s.id: _offset(s, january) for s in bundled}
    assert offsets["new_delhi_in"] == dt.timedelta(hours=5, minutes=30)
    assert offsets["anchorage_ak"] == dt.timedelta(hours=-9)
    assert len(set(offsets.values())) >= 10
    regions = {s.timezone.split("/")[0] for s in bundled}
    assert {"America", "Europe", "Africa", "Asia", "Australia", "Pacific"} <= regions


def test_bundled_greensboro_matches_design(bundled):
    gso = next(s for s in bundled if s.id == "greensboro_nc")
    assert (round(gso.latitude, 1), round(gso.longitude, 2)) == (36.1, -79.94)
    assert gso.timezone == "America/New_York"
    assert gso.elevation_m == 273
    assert dict(gso.stations) == {
        "noaa_cdo": "GHCND:USW00013723", "noaa_cdo_coop": "COOP:313630", "nws": "KGSO", "meteostat": "72317"
    }


def test_bundled_values_are_well_formed(bundled):
    for site in bundled:
        assert site.name.strip()
        for value in (site.latitude, site.longitude):
            assert round(value, 4) == value
        assert isinstance(site.elevation_m, float)
        for provider, station in site.stations.items():
            assert isinstance(station, str) and station
            if provider == "meteostat":
                assert len(station) == 5 and station.isdigit()
    london = next(s for s in bundled if s.id == "london_gb")
    assert london.stations["meteostat"] == "03772"  # leading zero kept by quoting


def test_site_is_immutable_and_hashable(bundled):
    site = bundled[0]
    assert isinstance(site.stations, types.MappingProxyType)
    with pytest.raises(TypeError):
        site.stations["nws"] = "KXXX"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.latitude = 0.0  # type: ignore[misc]
    assert len({*bundled, *bundled}) == 15
    plain = Site("x", "X", 1.0, 2.0, "UTC", stations={"nws": "KXYZ"})
    assert isinstance(plain.stations, types.MappingProxyType)
    assert Site("y", "Y", 1.0, 2.0, "UTC").stations == {}


# --- errors -------------------------------------------------------------------------------------

SOURCE = "/cfg/sites.yaml"


def _valid() -> dict:
    return {
        "sites": [
            {"id": "alpha", "name": "Alpha", "latitude": 10.0, "longitude": 20.0, "timezone": "Europe/Paris"},
            {
                "id": "beta",
                "name": "Beta",
                "latitude": -33.9,
                "longitude": 18.4,
                "timezone": "Africa/Johannesburg",
                "elevation_m": 15,
                "stations": {"meteostat": "68816"},
            },
            {"id": "gamma", "name": "Gamma", "latitude": 0, "longitude": 0, "timezone": "UTC"},
        ]
    }


def _error(data) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        parse_catalog(data, source=SOURCE)
    return info.value


def test_valid_document_parses_in_order():
    sites = parse_catalog(_valid(), source=SOURCE)
    assert [s.id for s in sites] == ["alpha", "beta", "gamma"]
    assert sites[1].elevation_m == 15.0 and sites[1].stations == {"meteostat": "68816"}
    assert sites[2].latitude == 0.0 and isinstance(sites[2].latitude, float)


@pytest.mark.parametrize(
    ("index", "field", "value", "expected"),
    [
        (1, "latitude", 95.0,
         "site #2 'beta': field 'latitude': must be a number between -90 and 90, got 95.0"),
        (0, "longitude", -181, "site #1 'alpha': field 'longitude': must be a number between -180 and 180"),
        (0, "latitude", True,
         "site #1 'alpha': field 'latitude': must be a number between -90 and 90, got a boolean"),
        (0, "latitude", "36.1N", "site #1 'alpha': field 'latitude': must be a number"),
        (0, "latitude", float("nan"), "site #1 'alpha': field 'latitude': must be a number"),
        (2, "id", "Gamma-1", "site #3 'Gamma-1': field 'id': must match [a-z0-9_]+"),
        (2, "id", 7, "site #3: field 'id': must be a string"),
        (0, "name", "  ", "site #1 'alpha': field 'name': must be a non-empty string"),
        (0, "timezone", "+05:30", "site #1 'alpha': field 'timezone': must be an IANA time zone name"),
        (0, "timezone", "UTC-8", "site #1 'alpha': field 'timezone': must be an IANA time zone name"),
        (0, "timezone", "Europe/Berln",
         "field 'timezone': unknown IANA time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)"),
        (0, "timezone", "../../etc/passwd", "site #1 'alpha': field 'timezone': unknown IANA time zone"),
        (1, "elevation_m", "high", "site #2 'beta': field 'elevation_m': must be a number"),
        (1, "stations", {"meteostat": 10637},
         "site #2 'beta': field 'stations.meteostat': station id must be a quoted string"),
        (1, "stations", {"nws": ""},
         "site #2 'beta': field 'stations.nws': station id must be a non-empty string"),
        (1, "stations", ["KGSO"], "site #2 'beta': field 'stations': must be a mapping"),
        (1, "stations", {"NWS": "KGSO"}, "site #2 'beta': field 'stations.NWS': provider name must match"),
    ],
)
def test_bad_field_names_file_site_and_field(index, field, value, expected):
    data = _valid()
    data["sites"][index][field] = value
    error = _error(data)
    assert len(error.problems) == 1, error.problems
    assert str(error) == error.problems[0]
    assert str(error).startswith(f"{SOURCE}: ")
    assert expected in str(error)


def test_integer_station_message_says_to_quote_it():
    data = _valid()
    data["sites"][1]["stations"] = {"meteostat": 10637}
    assert 'write meteostat: "10637"' in str(_error(data))


def test_missing_required_field_and_unknown_field():
    data = _valid()
    del data["sites"][0]["timezone"]
    data["sites"][0]["lat"] = 1.0
    error = _error(data)
    assert f"{SOURCE}: site #1 'alpha': field 'timezone': is required" in error.problems
    assert any(
        p.startswith(f"{SOURCE}: site #1 'alpha': unknown field 'lat' (did you mean 'latitude'?)")
        for p in error.problems
    )


def test_duplicate_id_names_both_positions():
    data = _valid()
    data["sites"][2]["id"] = "alpha"
    error = _error(data)
    assert error.problems == (
        f"{SOURCE}: site #3 'alpha': field 'id': duplicate id 'alpha' (site #1 and site #3 both use it)",
    )


def test_all_problems_are_collected_one_per_line():
    data = _valid()
    data["sites"][0]["latitude"] = 91
    data["sites"][1]["timezone"] = "Mars/Olympus"
    data["sites"][2]["id"] = "beta"
    data["sites"][2]["longitude"] = None
    error = _error(data)
    lines = str(error).splitlines()
    assert lines == list(error.problems)
    assert len(lines) == 4
    assert lines[0].startswith(f"{SOURCE}: site #1 'alpha': field 'latitude'")
    assert lines[1].startswith(f"{SOURCE}: site #2 'beta': field 'timezone'")
    assert any("site #3 'beta': field 'longitude': is required" in line for line in lines)
    assert any("duplicate id 'beta' (site #2 and site #3" in line for line in lines)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "the site catalog is empty"),
        ([{"id": "a"}], "top level must be a mapping with a 'sites' list, got a list"),
        ({"stations": []}, "missing the 'sites' list"),
        ({"sites": []}, "field 'sites' is empty"),
        ({"sites": {"id": "a"}}, "field 'sites' must be a list of sites, got a mapping"),
        ({"sites": ["greensboro"]}, "site #1: must be a mapping of fields, got a string"),
    ],
)
def test_bad_document_shape(data, expected):
    error = _error(copy.deepcopy(data))
    assert str(error).startswith(f"{SOURCE}: ")
    assert expected in str(error)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=rf"^{path}: site catalog file not found$"):
        load_catalog(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(CatalogError, match=rf"^{tmp_path}: is a directory"):
        load_catalog(tmp_path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "sites.yaml"
    path.write_text("sites:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(info.value).startswith(f"{path}: not valid YAML: ")
    assert "line" in str(info.value)


def test_duplicate_yaml_key_is_rejected_not_overwritten(tmp_path):
    path = tmp_path / "sites.yaml"
    path.write_text(
        "sites:\n  - id: a\n    name: A\n    latitude: 10\n    longitude: 20\n    latitude: 11\n"
        "    timezone: UTC\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="found duplicate key 'latitude'"):
        load_catalog(path)


def test_unquoted_station_in_real_yaml_file(tmp_path):
    data = _valid()
    path = tmp_path / "sites.yaml"
    text = yaml.safe_dump(data, sort_keys=False).replace("meteostat: '68816'", "meteostat: 03772")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    prefix = f"{path}: site #2 'beta': field 'stations.meteostat': station id must be a quoted"
    assert message.startswith(prefix)
    assert "leading zeros" in message
