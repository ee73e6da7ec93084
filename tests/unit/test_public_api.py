"""The curated public API (``import llm_router``): its exact surface, and that library mode stays Kafka-free."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import llm_router
from infra.config_loader import load_config
from schemas import errors, events

REPO = Path(__file__).resolve().parents[2]

# Pinned on purpose (as httpx does): adding or removing a public name is a deliberate change to this list.
EXPECTED_ALL = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ConfigError",
    "Priority",
    "ProviderError",
    "Router",
    "RouterClient",
    "RouterError",
    "__version__",
    "load_config",
]


def test_all_is_exactly_the_pinned_surface() -> None:
    assert sorted(llm_router.__all__) == EXPECTED_ALL
    assert len(set(llm_router.__all__)) == len(llm_router.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(llm_router, name) is not None
    assert name in dir(llm_router)


def test_exports_are_the_implementations_not_copies() -> None:
    from streams.client import RouterClient
    from streams.library import Router

    assert llm_router.Router is Router
    assert llm_router.RouterClient is RouterClient
    assert llm_router.load_config is load_config
    assert llm_router.ChatRequest is events.ChatRequest
    assert llm_router.ChatMessage is events.ChatMessage
    assert llm_router.ChatResponse is events.ChatResponse
    assert llm_router.Priority is events.Priority
    assert llm_router.RouterError is errors.RouterError
    assert llm_router.ConfigError is errors.ConfigError
    assert llm_router.ProviderError is errors.ProviderError


def test_exported_errors_share_the_one_base() -> None:
    assert issubclass(llm_router.ConfigError, llm_router.RouterError)
    assert issubclass(llm_router.ProviderError, llm_router.RouterError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NotThere'"):
        _ = llm_router.NotThere


def test_version_comes_from_the_installed_metadata() -> None:
    try:
        expected = importlib.metadata.version("llm-router")
    except importlib.metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert llm_router.__version__ == expected


def _installed() -> bool:
    try:
        importlib.metadata.version("llm-router")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _loaded_after(code: str, cwd: Path, *, installed_only: bool = False) -> set[str]:
    """Run ``code`` in a fresh interpreter in ``cwd``; return the modules it loaded.

    ``installed_only`` drops the repo from the path, so only the installed distribution can provide the imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not installed_only:
        env["PYTHONPATH"] = str(REPO)
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_bare_import_is_cheap(tmp_path: Path) -> None:
    loaded = _loaded_after("import llm_router", tmp_path)
    heavy = {"faust", "aiokafka", "numpy", "httpx", "redis", "streams.library", "streams.client"}
    assert not heavy & loaded, f"import llm_router pulled {sorted(heavy & loaded)}"


def test_library_mode_does_not_import_faust(tmp_path: Path) -> None:
    loaded = _loaded_after("import llm_router\nfrom llm_router import Router", tmp_path)
    assert "faust" not in loaded


def test_library_mode_does_not_import_aiokafka(tmp_path: Path) -> None:
    loaded = _loaded_after("from llm_router import Router", tmp_path)
    assert "aiokafka" not in loaded


def test_router_client_loads_kafka_on_first_access(tmp_path: Path) -> None:
    loaded = _loaded_after("import llm_router\nllm_router.RouterClient", tmp_path)
    assert "aiokafka" in loaded
    assert "faust" not in loaded


@pytest.mark.skipif(not _installed(), reason="llm-router is not installed (pip install -e . --no-deps)")
def test_installed_package_imports_from_any_directory(tmp_path: Path) -> None:
    loaded = _loaded_after("from llm_router import Router, ChatRequest, __version__", tmp_path, installed_only=True)
    assert {"llm_router", "streams.library"} <= loaded
