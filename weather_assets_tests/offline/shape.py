"""Compare a replay's JSON with a provider's documented sample: same keys, nesting and value types."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from weather_assets_tests.conftest import FIXTURES


def sample(provider_dir: str, name: str) -> Any:
    """A documented sample payload (weather_assets_tests/fixtures/providers/<provider_dir>/<name>)."""
    return json.loads((FIXTURES / provider_dir / name).read_text(encoding="utf-8"))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def assert_shaped_like(
    actual: Any,
    documented: Any,
    where: str = "$",
    *,
    ordered: bool = False,
    optional: Collection[str] = (),
    extra: Collection[str] = (),
) -> None:
    """`actual` has `documented`'s structure, recursively: objects have the same keys (in the same order with
    `ordered`), arrays hold elements shaped like the documented first element, and scalars have the same JSON
    type. null matches anything (a documented value may be missing, a replayed one injected as missing).

    `optional` names keys (anywhere) the documented sample has but a replayed object may leave out, and `extra`
    keys a replayed object may add: documented "where available" fields.
    """
    options = {"ordered": ordered, "optional": optional, "extra": extra}
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {_kind(actual)}"
        missing = [k for k in documented if k not in actual and k not in optional]
        added = [k for k in actual if k not in documented and k not in extra]
        assert not missing and not added, f"{where}: keys missing {missing}, not documented {added}"
        if ordered:
            common = [k for k in documented if k in actual]
            assert [k for k in actual if k in documented] == common, f"{where}: key order {list(actual)}"
        for key, value in documented.items():
            if key in actual:
                assert_shaped_like(actual[key], value, f"{where}.{key}", **options)
        return
    if isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {_kind(actual)}"
        if documented:
            element = next((d for d in documented if d is not None), documented[0])
            for i, item in enumerate(actual):
                assert_shaped_like(item, element, f"{where}[{i}]", **options)
        return
    if documented is None or actual is None:
        return
    assert _kind(actual) == _kind(documented), f"{where}: {actual!r} is a {_kind(actual)}, documented {documented!r}"
