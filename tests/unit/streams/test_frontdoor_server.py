"""``llm-router serve`` refuses to start a door that could serve nobody, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schemas.config import RouterConfig
from schemas.errors import ConfigError
from streams.cli import main
from streams.frontdoor.server import EngineKind, ServeOptions, build_door

BACKENDS = [{"name": "b", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}]


def test_a_door_without_api_keys_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sha256sum"):
        build_door(RouterConfig.model_validate({"backends": BACKENDS}), ServeOptions(EngineKind.INLINE))


def test_serve_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"backends": BACKENDS, "security": {"tenancy": "trusted-producers"}}))
    assert main(["serve", "--config", str(path), "--engine", "inline"]) == 2
    # lines of the command only: a garbage-collected client of an earlier test may log "Unclosed ..." here
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "Unclosed" not in line]
    assert len(err) == 1 and err[0].startswith("llm-router: the front door has no API keys")
