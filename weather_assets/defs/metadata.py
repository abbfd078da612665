"""Materialization metadata a UI user wants: row count, column schema, time range and a preview."""

from __future__ import annotations

import dagster as dg
import polars as pl


def markdown_table(df: pl.DataFrame, max_rows: int = 10) -> str:
    """A small Markdown table (no pandas needed)."""
    if df.width == 0:
        return "_empty_"
    head = df.head(max_rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * head.width]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    if df.height > max_rows:
        lines.append(f"\n_{df.height - max_rows:,} more rows_")
    return "\n".join(lines)


def column_schema(df: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in df.schema.items()])


def frame_metadata(df: pl.DataFrame, *, time_column: str | None = None) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(df.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(df)),
        "preview": dg.MetadataValue.md(markdown_table(df)),
    }
    if time_column and df.height:
        first, last = df[time_column].min(), df[time_column].max()
        metadata["time_range"] = dg.MetadataValue.text(f"{first:%Y-%m-%dT%H:%MZ} .. {last:%Y-%m-%dT%H:%MZ}")
    return metadata
