"""Line numbers of keys and items in YAML and JSON config documents."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config_positions import json_positions, line_for, load_yaml, yaml_positions

YAML = """\
# a comment
kafka:
  bootstrap_servers: k:1
backends:
  - name: a
    models: [m1,
      m2]
  -
    name: b
"""


def test_yaml_keys_and_items_have_their_lines() -> None:
    data, found = load_yaml(YAML)
    assert data == {
        "kafka": {"bootstrap_servers": "k:1"},
        "backends": [{"name": "a", "models": ["m1", "m2"]}, {"name": "b"}],
    }
    assert found[("kafka",)] == 2 and found[("kafka", "bootstrap_servers")] == 3
    assert found[("backends", 0)] == 5 and found[("backends", 0, "models", 1)] == 7
    assert found[("backends", 1, "name")] == 9
    assert yaml_positions(YAML) == found


def test_tricky_json_is_positioned_exactly() -> None:
    """Escapes YAML reads differently (``\\/``, ``\\u``), tabs, exponents, empty containers, a duplicate key."""
    text = '{\n\t"a": {"b\\/c": [1,\n 2e5, {"x\\u00e9": "}\\"]"}],\n\t"d": null},\n "f": [] , "g": {},\n "f": [true]\n}'
    json.loads(text)
    found = json_positions(text)
    assert found[("a",)] == 2 and found[("a", "b/c")] == 2
    assert found[("a", "b/c", 1)] == 3 and found[("a", "b/c", 2, "xé")] == 3
    assert found[("a", "d")] == 4
    assert found[("g",)] == 5 and found[("f",)] == 6  # the duplicate that json.loads keeps (the last)
    assert found[("f", 0)] == 6


def test_a_missing_field_is_placed_at_its_parent() -> None:
    found = yaml_positions(YAML)
    assert line_for(found, ("backends", 1, "base_url")) == (("backends", 1), 9)
    assert line_for(found, ("nowhere", 3)) == ((), 1)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(_json, st.sampled_from([None, 1, 2, "\t"]))
def test_every_path_of_any_json_document_is_found_on_its_line(doc: object, indent: int | str | None) -> None:
    text = json.dumps({"root": doc}, indent=indent)
    found = json_positions(text)
    lines = text.split("\n")

    def walk(value: object, path: tuple[str | int, ...]) -> None:
        assert path in found
        if isinstance(value, dict):
            for key, item in value.items():
                assert json.dumps(key) in lines[found[(*path, key)] - 1]
                walk(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))

    walk({"root": doc}, ())


@pytest.mark.parametrize("text", ["{}", "[]", '"x"', '{"a": {}}'])
def test_small_documents(text: str) -> None:
    assert json_positions(text)[()] == 1
