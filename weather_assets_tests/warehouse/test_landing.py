"""`weather_assets.warehouse.landing`: response bodies stored verbatim (gzip) beside their metadata,
and the per-day partition index that points a UTC day (or "latest") at them."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil

import pytest

from weather_assets.sites.catalog import Site
from weather_assets.warehouse import landing
from weather_assets.window import Window

WINDOW = Window(dt.date(2024, 3, 1), dt.date(2024, 3, 3))
FOLDER = "open_meteo/history/2024-03-01_2024-03-03/run-1"
BODY = '{"hourly": {"time": ["2024-03-01T00:00"], "temperature_2m": [-1.5]}, "note": "Zürich °C"}'.encode()
SITE_A = Site("site_a", "Site A", 47.37, 8.54, "Europe/Zurich", 408.0, {"meteostat": "06660"})
SITE_B = Site("site_b", "Site B", 40.71, -74.0, "America/New_York")


def meta(run_id: str = "run-1", sites: tuple[Site, ...] = (SITE_A,), **extra) -> dict:
    return {
        "provider": "open_meteo",
        "url": "https://archive.example/v1/archive?latitude=47.37&apikey=REDACTED",
        "status": 200,
        "bytes": len(BODY),
        "run_id": run_id,
        "sites": landing.sites_meta(sites),
        **extra,
    }


def land(root, index: int = 0, body: bytes = BODY, run_id: str = "run-1", **kwargs) -> landing.LandedResponse:
    return landing.land_response(root, "open_meteo", "history", WINDOW, run_id, index, body, meta(run_id, **kwargs))


def test_land_response_writes_the_body_gzipped_and_the_meta_beside_it(tmp_path):
    landed = land(tmp_path, index=7)
    body_path = tmp_path / FOLDER / "0007.json.gz"
    meta_path = tmp_path / FOLDER / "0007.meta.json"
    assert landed == landing.LandedResponse(body_path, meta())
    raw = body_path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip magic
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0: landing the same body twice gives the same bytes
    assert gzip.decompress(raw) == BODY
    assert json.loads(meta_path.read_text()) == meta()
    # Nothing else in the folder: no temporary file left behind.
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["0007.json.gz", "0007.meta.json"]


def test_land_response_is_deterministic_and_overwrites(tmp_path):
    first = land(tmp_path).body_path.read_bytes()
    assert land(tmp_path).body_path.read_bytes() == first
    landed = land(tmp_path, body=b"[]")
    assert landing.read_body(landed) == b"[]"
    assert sorted(p.name for p in landed.body_path.parent.iterdir()) == ["0000.json.gz", "0000.meta.json"]


def test_land_response_writes_the_meta_as_given(tmp_path):
    """Landing stores the metadata verbatim (secrets are removed upstream, by the HTTP layer); values
    JSON cannot hold are written as their str()."""
    fetched = dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    landed = land(tmp_path, index=1, fetched_at=fetched)
    written = json.loads((tmp_path / FOLDER / "0001.meta.json").read_text())
    assert written == {**meta(), "fetched_at": "2024-03-04 05:06:07+00:00"}
    assert landed.meta["fetched_at"] == fetched  # the returned entry keeps the object


@pytest.mark.parametrize(
    "body",
    [b"", BODY, bytes(range(256)) * 300, b"\x1f\x8b not really gzip"],
    ids=["empty", "json-utf8", "binary-77kB", "gzip-magic-inside"],
)
def test_read_body_gives_back_the_exact_bytes(tmp_path, body):
    landed = land(tmp_path, body=body)
    assert landing.read_body(landed) == body
    # and from the index, as validation reads it
    landing.write_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 2), [landed], "run-1")
    (entry,) = landing.read_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 2))
    assert landing.read_body(entry) == body


def test_partition_index_round_trip(tmp_path):
    day = dt.date(2024, 3, 2)
    responses = [land(tmp_path, index=0), land(tmp_path, index=1, body=b"{}", sites=(SITE_B,))]
    path = landing.write_partition_index(tmp_path, "open_meteo", "history", day, responses, "run-1")
    assert path == tmp_path / "open_meteo" / "history" / "_partitions" / "2024-03-02.json"
    assert json.loads(path.read_text()) == {
        "key": "2024-03-02",
        "run_id": "run-1",
        "responses": [
            {"body": f"{FOLDER}/0000.json.gz", "meta": meta()},  # relative to the landing root
            {"body": f"{FOLDER}/0001.json.gz", "meta": meta(sites=(SITE_B,))},
        ],
    }
    assert landing.read_partition_index(tmp_path, "open_meteo", "history", day) == responses
    # A string key (the latest snapshot) and a str day read back the same way.
    landing.write_partition_index(tmp_path, "open_meteo", "forecast", "latest", responses[:1], "run-1")
    assert landing.read_partition_index(tmp_path, "open_meteo", "forecast", "latest") == responses[:1]
    assert landing.read_partition_index(tmp_path, "open_meteo", "history", "2024-03-02") == responses


def test_partition_index_is_replaced_not_appended(tmp_path):
    day = dt.date(2024, 3, 2)
    landing.write_partition_index(tmp_path, "open_meteo", "history", day, [land(tmp_path, index=0)], "run-1")
    newer = land(tmp_path, index=0, run_id="run-2")
    landing.write_partition_index(tmp_path, "open_meteo", "history", day, [newer], "run-2")
    assert landing.read_partition_index(tmp_path, "open_meteo", "history", day) == [newer]
    assert newer.body_path == tmp_path / "open_meteo/history/2024-03-01_2024-03-03/run-2/0000.json.gz"
    assert sorted(p.name for p in (tmp_path / "open_meteo" / "history" / "_partitions").iterdir()) == [
        "2024-03-02.json"
    ]


def test_partition_index_survives_moving_the_landing_root(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    landed = land(old, body=b'{"moved": true}')
    landing.write_partition_index(old, "open_meteo", "history", dt.date(2024, 3, 1), [landed], "run-1")
    shutil.move(old, new)
    (entry,) = landing.read_partition_index(new, "open_meteo", "history", dt.date(2024, 3, 1))
    assert entry.body_path == new / FOLDER / "0000.json.gz"
    assert landing.read_body(entry) == b'{"moved": true}'


def test_an_empty_index_is_not_missing(tmp_path):
    landing.write_partition_index(tmp_path, "open_meteo", "forecast", "latest", [], "run-1")
    assert landing.read_partition_index(tmp_path, "open_meteo", "forecast", "latest") == []


def test_missing_raw_data_when_nothing_landed_for_the_day(tmp_path):
    landed = land(tmp_path)
    landing.write_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 1), [landed], "run-1")
    with pytest.raises(landing.MissingRawData, match=r"open_meteo/history: no landed response covers 2024-03-02"):
        landing.read_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 2))
    with pytest.raises(FileNotFoundError):  # MissingRawData is one
        landing.read_partition_index(tmp_path / "elsewhere", "open_meteo", "history", "latest")
    with pytest.raises(landing.MissingRawData):  # another dataset of the same provider
        landing.read_partition_index(tmp_path, "open_meteo", "forecast", dt.date(2024, 3, 1))


def test_sites_meta_round_trips_through_json(tmp_path):
    described = landing.sites_meta([SITE_A, SITE_B])
    assert described[0] == {
        "id": "site_a",
        "name": "Site A",
        "latitude": 47.37,
        "longitude": 8.54,
        "timezone": "Europe/Zurich",
        "elevation_m": 408.0,
        "stations": {"meteostat": "06660"},
    }
    landed = land(tmp_path, sites=(SITE_A, SITE_B))
    landing.write_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 1), [landed], "run-1")
    (entry,) = landing.read_partition_index(tmp_path, "open_meteo", "history", dt.date(2024, 3, 1))
    assert landing.sites_of(entry.meta) == [SITE_A, SITE_B]


def test_add_to_day_index_keeps_only_responses_with_sites_not_pulled_again(tmp_path):
    day = dt.date(2024, 3, 1)
    only_a = land(tmp_path, index=0, sites=(SITE_A,))
    a_and_b = land(tmp_path, index=1, sites=(SITE_A, SITE_B))
    assert landing.add_to_day_index(tmp_path, "open_meteo", "history", day, [only_a]) == [only_a]  # no index yet
    landing.write_partition_index(tmp_path, "open_meteo", "history", day, [only_a, a_and_b], "run-1")
    again_a = land(tmp_path, index=0, run_id="run-2", sites=(SITE_A,))
    # only_a is wholly superseded; a_and_b still holds site_b's rows.
    assert landing.add_to_day_index(tmp_path, "open_meteo", "history", day, [again_a]) == [a_and_b, again_a]


def test_newest_pulls_names_the_last_run_covering_each_site_day(tmp_path):
    d1, d2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
    first = land(tmp_path, index=0, run_id="run-1", sites=(SITE_A, SITE_B))
    second = land(tmp_path, index=0, run_id="run-2", sites=(SITE_A,))
    assert landing.newest_pulls({d1: [first, second], d2: [first]}) == {
        (d1, "site_a"): "run-2",
        (d1, "site_b"): "run-1",
        (d2, "site_a"): "run-1",
        (d2, "site_b"): "run-1",
    }
