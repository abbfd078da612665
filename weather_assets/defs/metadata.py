"""Materialization metadata a UI user wants: row count, column schema, time range and a preview."""

from __future__ import annotations

import dagster as dg
import polars as pl

PREVIEW_ROWS = 10


def markdown_table(df: pl.DataFrame, max_rows: int = PREVIEW_ROWS, *, total_rows: int | None = None) -> str:
    """A small Markdown table (no pandas needed). `total_rows`: how many rows `df` previews, when it
    holds only the first ones (default: its own height)."""
    if df.width == 0:
        return "_empty_"
    head = df.head(max_rows)
    total = df.height if total_rows is None else total_rows
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * head.width]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    if total > head.height:
        lines.append(f"\n_{total - head.height:,} more rows_")
    return "\n".join(lines)


def column_schema(df: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in df.schema.items()])


def frame_metadata(df: pl.DataFrame, *, time_column: str | None = None) -> dict[str, dg.MetadataValue]:
    time_range = (df[time_column].min(), df[time_column].max()) if time_column and df.height else None
    return summary_metadata(df.head(PREVIEW_ROWS), rows=df.height, time_range=time_range)


def summary_metadata(
    preview: pl.DataFrame, *, rows: int, time_range: tuple[object, object] | None = None
) -> dict[str, dg.MetadataValue]:
    """`frame_metadata` of a frame that is not held whole: its first rows, its row count and its
    (min, max) time."""
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(preview)),
        "preview": dg.MetadataValue.md(markdown_table(preview, total_rows=rows)),
    }
    if time_range is not None:
        first, last = time_range
        metadata["time_range"] = dg.MetadataValue.text(f"{first:%Y-%m-%dT%H:%MZ} .. {last:%Y-%m-%dT%H:%MZ}")
    return metadata
