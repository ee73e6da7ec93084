"""docs/configuration.md is generated from the models; it must be regenerated when they change."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from infra.config_reference import REFERENCE_PATH, render_reference, write_reference
from schemas import config


def test_the_reference_on_disk_is_current() -> None:
    assert REFERENCE_PATH.read_text(encoding="utf-8") == render_reference(), (
        "docs/configuration.md is stale: run `python -m infra.config_reference`"
    )


def test_every_field_of_every_section_is_documented() -> None:
    text = render_reference()
    models = [m for m in vars(config).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    for model in (m for m in models if m.__module__ == config.__name__ and m.model_fields):
        (section,) = [s for s in text.split("\n## ") if s.partition("\n")[0].endswith(f" ({model.__name__})")]
        for name in model.model_fields:
            assert f"| `{name}` |" in section, (model.__name__, name)
    assert "## `backends[]` (BackendConfig)" in text and "| `timeout_s` | number | `30.0` | > 0 |" in text
    assert "| `models` | list of string | **required** | at least 1 long |" in text
    assert "## `worker.scheduler` (SchedulerSettings)" in text
    assert "| `LLM_ROUTER_KAFKA_BOOTSTRAP` | `kafka.bootstrap_servers` |" in text


def test_write_reports_whether_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "configuration.md"
    assert write_reference(path) is True
    assert write_reference(path) is False
    path.write_text("stale")
    assert write_reference(path) is True and path.read_text() == render_reference()
