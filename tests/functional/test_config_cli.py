"""``llm-router config validate|show|diff`` and the worker's refusal of a config that validate rejects: real CLI
processes (their output, their exit codes), no Kafka or Redis needed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from infra.config_loader import validate_file
from streams.cli import main

ROUTER_KEY = "functional-tests-router-key-0123456789abcdef"

CONFIG = """\
backends:
  - name: main
    base_url: http://127.0.0.1:1/v1
    api_key_env: SOME_UNSET_VAR
    models: [m1]
security:
  router_keys: [{key_env: LLM_ROUTER_KEY}]
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One ``llm-router`` process with a clean ``LLM_ROUTER_*`` environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_") and k != "SOME_UNSET_VAR"}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=base | (env or {}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(60)
def test_worker_refuses_a_config_whose_api_key_variable_is_unset(tmp_path: Path) -> None:
    """It used to start, then crash-loop on every call; now it stops before touching Kafka (a closed port here),
    with the message validate prints and no traceback."""
    path = tmp_path / "router.yaml"
    path.write_text(CONFIG)
    env = {"LLM_ROUTER_KEY": ROUTER_KEY, "LLM_ROUTER_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}"}
    started = time.monotonic()
    worker = cli("worker", "--config", str(path), env=env, timeout=30)
    elapsed = time.monotonic() - started
    assert worker.returncode == 2, worker.stderr
    assert "Traceback" not in worker.stderr
    assert f"{path}:4: backends.0.api_key_env: backend main: environment variable SOME_UNSET_VAR is not set" in (
        worker.stderr
    )
    assert elapsed < 20
    report = validate_file(path, env=env, check_env=True).report()  # what `config validate` prints
    assert worker.stderr == f"llm-router: {report}\n"


BROKEN = """\
backends:
  - name: main
    provider: openia
    base_url: http://127.0.0.1:1/v1
    api_key_env: SOME_UNSET_VAR
    timout_s: 3
    models: [m1]
routes:
  - name: r
    targets: [{model: m1}, {model: gpt-5}]
"""


def _run_all(
    cases: dict[str, tuple[list[str], dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, tuple[int, str, str]]:
    """Each case through the CLI's ``main`` in this process (fast; the worker case above is a real process);
    (exit code, stdout, stderr) by name."""
    results = {}
    for name, (args, env) in cases.items():
        with monkeypatch.context() as patch:
            for var in [k for k in os.environ if k.startswith("LLM_ROUTER_") or k == "SOME_UNSET_VAR"]:
                patch.delenv(var)
            for var, value in env.items():
                patch.setenv(var, value)
            code = main(args)
        out, err = capsys.readouterr()
        results[name] = (code, out, err)
    return results


def test_validate_show_and_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, old, new = tmp_path / "broken.yaml", tmp_path / "old.yaml", tmp_path / "new.json"
    broken.write_text(BROKEN)
    old.write_text(CONFIG.replace("    api_key_env: SOME_UNSET_VAR\n", ""))
    data = yaml.safe_load(old.read_text())
    data["backends"][0]["timeout_s"] = 5
    data["kafka"] = {"consumer_group": "other"}
    new.write_text(json.dumps(data, indent=2))
    secret_url = {"LLM_ROUTER_REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0"}
    results = _run_all(
        {
            "invalid": (["config", "validate", str(broken)], {}),
            "no env check": (["config", "validate", str(broken), "--no-env-check"], {}),
            "valid": (["config", "validate", "--config", str(old)], {"LLM_ROUTER_KEY": ROUTER_KEY}),
            "show": (["config", "show", str(old)], secret_url),
            "show json": (["config", "show", str(old), "--json"], secret_url),
            "diff": (["config", "diff", str(old), str(new)], {}),
            "same": (["config", "diff", str(old), str(old)], {}),
            "unreadable": (["config", "show", str(tmp_path / "nope.yaml")], {}),
        },
        monkeypatch,
        capsys,
    )
    code, out, err = results["invalid"]
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{broken}: invalid configuration (4 errors):",
        f"  {broken}:3: backends.0.provider: unknown provider 'openia'; registered: anthropic, gemini, openai, "
        "openai-compatible (did you mean 'openai'?)",
        f"  {broken}:5: backends.0.api_key_env: backend main: environment variable SOME_UNSET_VAR is not set",
        f"  {broken}:6: backends.0.timout_s: unknown field 'timout_s' (did you mean 'timeout_s'?)",
        f"  {broken}:10: routes.0.targets.1.model: route 'r': no backend serves model 'gpt-5'",
    ]
    code, out, _ = results["no env check"]
    assert code == 1 and "(3 errors)" in out and "SOME_UNSET_VAR" not in out
    assert results["valid"] == (0, f"{old}: valid (1 backends, 0 routes, secrets present in this environment)\n", "")

    code, out, err = results["show"]
    assert (code, err) == (0, "")
    assert "# environment overrides applied: LLM_ROUTER_REDIS_URL" in out and "hunter2" not in out
    shown = yaml.safe_load(out)
    assert shown["redis"]["url"] == "redis://:***@127.0.0.1:6379/0"
    assert shown["kafka"]["session_timeout_s"] == 10.0  # defaults filled
    assert shown["security"]["router_keys"] == [{"key_env": "LLM_ROUTER_KEY", "key_file": None, "key": None}]
    assert json.loads(results["show json"][1]) == shown

    code, out, err = results["diff"]
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "kafka.consumer_group: 'llm-router' -> 'other'  [needs restart]",
        "backends[main].timeout_s: 30.0 -> 5.0",
        "2 changes, 1 need a restart",
    ]
    assert results["same"] == (0, "no changes\n", "")
    code, out, err = results["unreadable"]
    assert (code, out) == (2, "") and err.startswith(f"llm-router: cannot read config {tmp_path / 'nope.yaml'}")
