"""The PNG inside a chart's Markdown (weather_assets/defs/charts.py), for the tests that look at it."""

from __future__ import annotations

import base64
import re
import struct


def chart_png(markdown: str) -> bytes:
    match = re.search(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:200]
    return base64.b64decode(match.group(1))


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])  # IHDR width, height
