"""Where each key and list item of a YAML or JSON config document starts (its line), by path.

Validation errors carry a path (pydantic's ``loc``); an operator needs the line. YAML keeps node marks when
composed; JSON is scanned with the standard library's own decoder pieces, so a document ``json.loads`` accepts
is positioned exactly (no YAML-vs-JSON quirks: tabs, ``\\/`` escapes, duplicate keys)."""

from __future__ import annotations

import bisect
import json
from json.decoder import scanstring  # type: ignore[attr-defined]

import yaml

__all__ = ["Path", "json_positions", "line_for", "load_yaml", "yaml_positions"]

Path = tuple[str | int, ...]

_WS = " \t\r\n"


def load_yaml(text: str) -> tuple[object, dict[Path, int]]:
    """The document (as ``yaml.safe_load`` reads it) and its positions, from one parse. Raises ``yaml.YAMLError``."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return (None if root is None else loader.construct_document(root)), _node_positions(root)
    finally:
        loader.dispose()


def yaml_positions(text: str) -> dict[Path, int]:
    """path -> 1-based line of every mapping key and sequence item (the root is line 1). The text must parse."""
    return _node_positions(yaml.compose(text, Loader=yaml.SafeLoader))


def _node_positions(root: yaml.Node | None) -> dict[Path, int]:
    found: dict[Path, int] = {(): 1}
    if root is None:
        return found
    stack: list[tuple[Path, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*path, key.value)
                    found[child] = key.start_mark.line + 1
                    stack.append((child, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                found[child] = item.start_mark.line + 1
                stack.append((child, item))
    return found


class _JsonScan:
    """A recursive walk over valid JSON that records the line of every key and item."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.found: dict[Path, int] = {(): 1}
        self.scalar = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # exists, not in the stubs

    def line(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index)

    def skip(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in _WS:
            i += 1
        return i

    def value(self, i: int, path: Path) -> int:
        """Scan the value starting at or after ``i``; return the index after it."""
        i = self.skip(i)
        opener = self.text[i]
        if opener not in "{[":
            return int(self.scalar(self.text, i)[1])
        closer, i, index = ("}" if opener == "{" else "]"), self.skip(i + 1), 0
        while self.text[i] != closer:
            if opener == "{":
                key, after = scanstring(self.text, i + 1)
                child: Path = (*path, key)
                self.found[child] = self.line(i)
                i = self.skip(after) + 1  # past ':'
            else:
                child = (*path, index)
                self.found[child] = self.line(self.skip(i))
                index += 1
            i = self.skip(self.value(i, child))
            if self.text[i] == ",":
                i = self.skip(i + 1)
        return i + 1


def json_positions(text: str) -> dict[Path, int]:
    """path -> 1-based line of every object key and array item. The text must be valid JSON."""
    scan = _JsonScan(text)
    scan.value(0, ())
    return scan.found


def line_for(positions: dict[Path, int], loc: Path) -> tuple[Path, int | None]:
    """The longest prefix of ``loc`` found in the document and its line (a missing field: its parent's line)."""
    for end in range(len(loc), -1, -1):
        prefix = loc[:end]
        if prefix in positions:
            return prefix, positions[prefix]
    return (), None
