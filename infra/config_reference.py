"""The configuration reference (docs/configuration.md), generated from the pydantic models.

Every section, field, type, default, constraint and description comes from ``schemas/config.py``, so the
reference cannot drift from the code: ``python -m infra.config_reference`` rewrites the file and a unit test
fails when the file on disk differs from what the models generate."""

from __future__ import annotations

import enum
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from infra.config_loader import ENV_OVERRIDES
from schemas.config import RouterConfig
from schemas.plugins import EXTENSION_POINTS

__all__ = ["REFERENCE_PATH", "render_reference", "write_reference"]

REFERENCE_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null", Any: "any"}
_CONSTRAINTS: tuple[tuple[str, str], ...] = (
    ("ge", "≥ {}"),
    ("gt", "> {}"),
    ("le", "≤ {}"),
    ("lt", "< {}"),
    ("min_length", "at least {} long"),
)
_CONSTRAINTS += (("max_length", "at most {} long"), ("pattern", "matches `{}`"))

HEADER = """\
# Configuration reference

<!-- generated from schemas/config.py by `python -m infra.config_reference`: do not edit by hand -->

A router deployment is configured by one YAML or JSON document, chosen by `--config`, else `$LLM_ROUTER_CONFIG`,
else the packaged `infra/config/default.yaml`. Only `backends` is required; everything else has the default
listed here. `llm-router config validate FILE` lists every error with its line, `llm-router config show` prints
the effective configuration (defaults filled, environment overrides applied, secrets masked) and
`llm-router config diff OLD NEW` what a reload would change (and what of it needs a restart).
"""


@dataclass(frozen=True)
class _Section:
    path: str
    model: type[BaseModel]

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.path.lower()).strip("-") or "top-level"


def _inner(annotation: Any) -> Iterator[tuple[str, Any]]:
    """(path suffix, model) of every model an annotation holds: ``X``, ``list[X]`` (``[]``), ``dict[K, X]``."""
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
    elif origin in (list, dict):
        for suffix, model in _inner(get_args(annotation)[-1]):
            yield ("[]" if origin is list else ".<key>") + suffix, model
    elif origin in (Union, types.UnionType, Annotated):
        for arg in get_args(annotation):
            yield from _inner(arg)


def _sections(root: type[BaseModel] = RouterConfig) -> list[_Section]:
    """Each model once, depth first in declaration order, at the first path it appears."""
    found: list[_Section] = []
    seen: set[type[BaseModel]] = set()

    def visit(path: str, model: type[BaseModel]) -> None:
        seen.add(model)
        found.append(_Section(path, model))
        for name, field in model.model_fields.items():
            for suffix, inner in _inner(field.annotation):
                if inner not in seen:
                    visit(f"{path}.{name}{suffix}".lstrip("."), inner)

    visit("", root)
    return found


def _type(annotation: Any, anchors: dict[type[BaseModel], str]) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation is SecretStr:
        return "string (secret)"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{anchors[annotation]})"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is Annotated:
        return _type(args[0], anchors)
    if origin is list:
        return f"list of {_type(args[0], anchors)}"
    if origin is dict:
        return f"map of {_type(args[0], anchors)} to {_type(args[1], anchors)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a, anchors) for a in args)
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if value is PydanticUndefined:
        return ""
    return f"`{json.dumps(to_jsonable_python(value), ensure_ascii=False)}`"


def _constraints(field: FieldInfo) -> str:
    found = []
    for item in field.metadata:
        for attr, text in _CONSTRAINTS:
            value = getattr(item, attr, None)
            if value is not None:
                found.append(text.format(value))
    return "; ".join(found)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text.replace("\n", " ")


def _prose(doc: str | None) -> str:
    """A docstring as markdown paragraphs (RST literals to markdown)."""
    if not doc:
        return ""
    paragraphs = inspect.cleandoc(doc).replace("``", "`").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _section(section: _Section, anchors: dict[type[BaseModel], str]) -> list[str]:
    title = f"`{section.path}`" if section.path else "Top level"
    lines = [f'<a id="{section.anchor}"></a>', "", f"## {title} ({section.model.__name__})", ""]
    prose = _prose(section.model.__dict__.get("__doc__"))
    lines += [prose, ""] if prose else []
    lines += ["| field | type | default | constraints | description |", "| --- | --- | --- | --- | --- |"]
    for name, field in section.model.model_fields.items():
        cells = [f"`{name}`", _type(field.annotation, anchors), _default(field), _constraints(field)]
        description = field.description or ""
        cells.append(description if "`" in description else description.replace("<", "&lt;"))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def _appendix() -> list[str]:
    lines = ["## Environment overrides", "", "| variable | sets |", "| --- | --- |"]
    lines += [f"| `{var}` | `{path}` |" for var, path in ENV_OVERRIDES.items()]
    lines += ["", "## Built-in plugin names", "", "Plugins add names through these entry-point groups.", ""]
    lines += ["| extension point | entry-point group | built-in names |", "| --- | --- | --- |"]
    for point in EXTENSION_POINTS:
        names = ", ".join(f"`{n}`" for n in sorted(point.builtins)) or "(none)"
        lines.append(f"| {point.kind} | `{point.group}` | {names} |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole reference as markdown (deterministic: no environment, no installed plugins)."""
    sections = _sections()
    anchors = {s.model: s.anchor for s in sections}
    lines = [HEADER, "## Sections", ""]
    lines += [f"- [`{s.path or 'top level'}`](#{s.anchor}) ({s.model.__name__})" for s in sections]
    lines.append("")
    for section in sections:
        lines += _section(section, anchors)
    return "\n".join(lines + _appendix()).rstrip("\n") + "\n"


def write_reference(path: Path = REFERENCE_PATH) -> bool:
    """Write the reference to ``path``; True when the file changed."""
    text = render_reference()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    changed = write_reference(Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE_PATH)
    print(f"{'wrote' if changed else 'unchanged:'} {sys.argv[1] if len(sys.argv) > 1 else REFERENCE_PATH}")
