"""Reading the site catalog's YAML safely and fast, and quoting its values briefly in messages.

The catalog is built straight from the YAML parser's events (libyaml's when PyYAML has it): no node
graph, no anchors or aliases (refused at the first one, before anything is expanded), at most
`max_nodes` values. No Dagster, and nothing from the rest of the package.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any, NoReturn

import yaml
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
# Plain-scalar tags whose SafeConstructor function returns an immutable value straight from a node.
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp", "binary")
)
_SEQUENCE_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_MAPPING_TAGS = (None, "!", "tag:yaml.org,2002:map")
_PLAIN_CACHE_SIZE = 20_000
_MAX_DEPTH = 1000  # a catalog needs 4: the document, `sites`, a site, its `stations`
_DECIMAL_RE = re.compile(r"[-+]?[0-9]+\.[0-9]+")  # "36.0978": YAML 1.1 float, float() reads it the same
_INTEGER_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})")  # "273": int (a leading 0 would be octal)
_MISSING = object()


class _AnyCharacter:
    def __contains__(self, item: object) -> bool:
        return True


class Refused(Exception):
    """The document is refused at `event` (the loader has no file name; the caller words it)."""

    def __init__(self, event: yaml.Event) -> None:
        super().__init__()
        self.event = event


class AnchorFound(Refused):
    pass


class TooManyNodes(Refused):
    pass


def _refuse_key(key: Any, mapping: dict[Any, Any], opened: yaml.Event, at: yaml.Event) -> NoReturn:
    """Refuse a mapping key that is a duplicate (instead of silently keeping the last value) or
    unhashable. `opened` started the mapping, `at` started the key."""
    try:
        problem = f"found duplicate key {show(key)}" if key in mapping else "found unhashable key"
    except TypeError:
        problem = "found unhashable key"
    raise yaml.constructor.ConstructorError("while constructing a mapping", opened.start_mark, problem, at.start_mark)


class EventBuilder:
    """Builds the catalog document straight from a YAML parser's events, safely and fast.

    Mixed into a SafeLoader (see `CatalogLoader`). Same result as `yaml.safe_load` (the SafeLoader's
    resolver and scalar constructors decide every scalar), except: an anchor or alias raises
    `AnchorFound` at the first one, before anything is expanded (the "billion laughs" bomb); the
    `max_nodes`+1-th value raises `TooManyNodes`; a duplicate mapping key is refused instead
    of silently overwritten; a collection tag other than a plain map/seq (!!set, !!omap, !!pairs,
    custom tags) is refused (none yields a valid catalog). No node graph is built, and plain scalars
    are resolved once per distinct value.
    """

    max_nodes = 3_000_000  # the caller sets its own bound before `build()`

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._plain: dict[str, Any] = {}
        # A plain scalar whose first character starts none of the resolver's patterns (true, null,
        # 12, .5, ~, ...) can only be a string: the loop does not resolve it (names, zones, station
        # ids, most field names).
        resolvers = self.yaml_implicit_resolvers
        self._resolvable_first = _AnyCharacter() if None in resolvers else frozenset(resolvers) - {""}

    def build(self) -> Any:
        self.get_event()  # StreamStartEvent
        if self.check_event(StreamEndEvent):
            return None
        self.get_event()  # DocumentStartEvent
        first = self.peek_event()
        data = self._build_node()
        self.get_event()  # DocumentEndEvent
        if not self.check_event(StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                first.start_mark,
                "but found another document",
                self.get_event().start_mark,
            )
        return data

    def _build_node(self) -> Any:
        # The hot loop of a catalog load (~20 events per site): locals only, no call per event for
        # the common cases. `items` is the collection being filled (None: the document itself),
        # `key` a mapping's pending key, `opened` the event that started the collection; `stack`
        # holds the same three for each enclosing collection.
        get_event, plain, scalar, resolvable = self.get_event, self._plain, self._scalar, self._resolvable_first
        stack: list[tuple[Any, Any, Any]] = []
        items: Any = None
        key: Any = _MISSING
        opened: Any = None
        budget = self.max_nodes  # values, lists and mappings still allowed
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                budget -= 1
                if event.anchor is not None or budget < 0:
                    raise TooManyNodes(event) if event.anchor is None else AnchorFound(event)
                if event.tag is None and event.implicit[0]:
                    value = event.value
                    if not value or value[0] in resolvable:  # else it can only be a string
                        value = plain.get(value, _MISSING)
                        if value is _MISSING:
                            value = scalar(event)
                else:
                    value = scalar(event)
                at = event
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                budget -= 1
                self._check_collection(event, budget, len(stack))
                stack.append((items, key, opened))
                items, key, opened = ({} if kind is MappingStartEvent else []), _MISSING, event
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                value, at = items, opened
                items, key, opened = stack.pop()
            else:  # AliasEvent: the only other event inside a document
                raise AnchorFound(event)
            if items is None:
                return value
            if type(items) is list:
                items.append(value)
            elif key is not _MISSING:
                items[key] = value
                key = _MISSING
            else:
                try:
                    refused = value in items  # a duplicate key
                except TypeError:
                    refused = True  # unhashable
                if refused:
                    _refuse_key(value, items, opened, at)
                key = value

    def _check_collection(self, event: MappingStartEvent | SequenceStartEvent, budget: int, depth: int) -> None:
        if event.anchor is not None:
            raise AnchorFound(event)
        if budget < 0:
            raise TooManyNodes(event)
        if depth >= _MAX_DEPTH:  # libyaml's own limit; the pure-Python scanner is quadratic in depth
            raise yaml.constructor.ConstructorError(
                None, None, f"lists and mappings nested more than {_MAX_DEPTH} deep", event.start_mark
            )
        if event.tag not in (_MAPPING_TAGS if type(event) is MappingStartEvent else _SEQUENCE_TAGS):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the YAML tag {show(event.tag)} is not supported in the site catalog",
                event.start_mark,
            )

    def _scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is not None and tag != "!":
            return self._construct_scalar(tag, event)
        text = event.value
        if not event.implicit[0]:
            return text  # quoted: always a string
        # The two shapes of nearly every number in a catalog, read exactly as the resolver and
        # SafeConstructor would, in a tenth of the time; anything else takes the full path.
        if _DECIMAL_RE.fullmatch(text):
            return float(text)
        if _INTEGER_RE.fullmatch(text):
            value: Any = int(text)
        else:
            value = self._construct_scalar(self.resolve(ScalarNode, text, (True, False)), event)
        if len(self._plain) < _PLAIN_CACHE_SIZE:  # field names, zones, small numbers repeat
            self._plain[event.value] = value
        return value

    def _construct_scalar(self, tag: str, event: ScalarEvent) -> Any:
        if tag == STR_TAG:
            return event.value
        if tag == _INT_TAG and ":" in event.value and len(event.value) > 64:
            # YAML 1.1 base-60 (1:30:00): PyYAML's conversion is quadratic in the number of parts.
            raise yaml.constructor.ConstructorError(
                None, None, f"base-60 integer too long ({len(event.value):,} characters)", event.start_mark
            )
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            if tag in _SCALAR_TAGS:
                return self.yaml_constructors[tag](self, node)
            try:  # any other explicit tag: SafeConstructor decides, and refuses unknown ones
                return self.construct_object(node, deep=True)
            finally:
                self.constructed_objects.clear()
                self.recursive_objects.clear()
        except ValueError as exc:  # e.g. date 2024-02-30, an integer of more than 4300 digits
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {show(event.value)} as {tag}: {exc}", event.start_mark
            ) from None


class CatalogLoader(EventBuilder, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The catalog's loader: libyaml's parser when PyYAML has it, else the pure-Python one (same
    result, ~30x slower). A 50,000-site file loads in ~1.5 s, validation included; it took ~45 s with
    `yaml.SafeLoader`, its node graph and a ZoneInfo lookup per site."""


_SHOW_LIMIT = 80


class _ShortRepr(reprlib.Repr):
    """repr() cut short, without ever building the full repr of a large value first."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = _SHOW_LIMIT
        self.maxlong = 40
        self.maxlevel = 2
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 4

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a >4300-digit int raises; a bigger one is slow
            return f"<an integer of {x.bit_length():,} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x) if len(x) <= self.maxother else f"{x[: self.maxother]!r}... ({len(x):,} bytes)"


_SHORT_REPR = _ShortRepr()


def show(value: object) -> str:
    """How a message quotes a value from the catalog: its repr, at most ~80 characters."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= _SHOW_LIMIT else f"{text[: _SHOW_LIMIT - 3]}..."


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
