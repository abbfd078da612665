"""What every provider's "a value that does not parse" test checks (providers/spec.py UNPARSED): the
malformed body's frame is the good body's frame, cell for cell and exactly, except that each marked row
has NULL in its marked columns and their raw text in `unparsed`; `split_valid` quarantines exactly the
marked rows (check `unparsed_value`, the raw text as failure case) and passes every other row unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandera.polars as pa
import polars as pl

from weather_assets.providers.spec import ESTIMATED_FIELDS, UNPARSED, UNPARSED_CHECK
from weather_assets.schemas.observation import ForecastObservation, Observation, split_valid


def assert_unparsed_rows(
    good: pl.DataFrame,
    bad: pl.DataFrame,
    marked: Mapping[int, Mapping[str, str]],
    model: type[pa.DataFrameModel] = Observation,
    time_column: str = "observed_at",
) -> None:
    """`bad` (normalised from the malformed body) against `good` (from the body as documented); `marked`:
    row position -> {canonical column: the raw text as received}."""
    assert marked, "a test of values that do not parse needs at least one"
    assert bad.columns == good.columns and bad.schema == good.schema and UNPARSED in bad.columns
    assert good[UNPARSED].null_count() == good.height  # the documented body parses everywhere
    expected = good.to_dicts()
    for row, found in marked.items():
        assert all(expected[row][column] is not None for column in found), "mark a value the good body has"
        expected[row].update(dict.fromkeys(found, None))
        expected[row][UNPARSED] = dict(found)
        if expected[row].get(ESTIMATED_FIELDS):  # a NULL is no estimate: the marked columns leave the list
            estimated = [c for c in expected[row][ESTIMATED_FIELDS].split(",") if c not in found]
            expected[row][ESTIMATED_FIELDS] = ",".join(estimated) or None
    got = [{**r, UNPARSED: json.loads(r[UNPARSED]) if r[UNPARSED] is not None else None} for r in bad.to_dicts()]
    assert got == expected  # every other row and value exactly as in the good body

    if model is ForecastObservation:  # only a forecast model takes `estimated_fields`
        checked_good, checked_bad = good, bad
    else:
        checked_good, checked_bad = (f.drop(ESTIMATED_FIELDS, strict=False) for f in (good, bad))
    before = split_valid(checked_good, model, time_column)
    after = split_valid(checked_bad, model, time_column)
    keys = ["site_id", time_column]
    rows = sorted(marked)
    marked_keys = good.with_row_index("_row").filter(pl.col("_row").is_in(rows)).select(keys)
    assert before.valid.join(marked_keys, on=keys, how="semi").height == len(rows)  # valid when they parse
    # The marked rows leave the valid rows, which keep exactly their columns and values; other rejects stay.
    assert after.valid.equals(before.valid.join(marked_keys, on=keys, how="anti", maintain_order="left"))
    assert UNPARSED not in after.valid.columns
    assert after.rejected.filter(pl.col("failed_check") != UNPARSED_CHECK).equals(before.rejected)
    quarantined = after.rejected.filter(pl.col("failed_check") == UNPARSED_CHECK)
    assert quarantined.height == len(rows)
    for reject, row in zip(quarantined.iter_rows(named=True), rows, strict=True):
        found = marked[row]
        columns, cases = reject["failed_column"].split(", "), reject["failure_case"].split("; ")
        assert dict(zip(columns, cases, strict=True)) == found  # each column with its raw text, in read order
        assert (reject["site_id"], reject["source"]) == (good["site_id"][row], good["source"][row])
        record = json.loads(reject["record"])
        assert record[UNPARSED] == dict(found) and all(record[column] is None for column in found)
