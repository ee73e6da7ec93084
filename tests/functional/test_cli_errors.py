"""The CLI against services that are not there: one clear line and exit code 2, quickly, never a traceback.

Each case is a real ``llm-router`` process (its logging, its exit code); they run side by side to keep this short.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def _closed_port() -> int:
    """A port on which nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_all(cases: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, tuple[int, str, str]]:
    """Start every case's CLI process at once; (exit code, stdout, stderr) by case name."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args],
            env=base | env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, env) in cases.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        results[name] = (proc.returncode, out, err)
    return results


@pytest.mark.timeout(120)
def test_unreachable_services_and_bad_configs_are_one_line_and_exit_2() -> None:
    kafka = {"LLM_ROUTER_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}"}
    redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    no_kafka = f"llm-router: cannot reach Kafka at {kafka['LLM_ROUTER_KAFKA_BOOTSTRAP']} (is it running? start it "
    no_kafka += "with infra/bin/kafka-start.sh)"
    no_redis = f"llm-router: cannot reach Redis at {redis_url} (is it running? start it with infra/bin/redis-start.sh)"
    cases = {
        "send": (["send", "hello"], kafka),
        "get": (["get", "abc"], kafka),
        "dlq list": (["dlq", "list"], kafka),
        "cache invalidate": (["cache", "invalidate", "--all"], {"LLM_ROUTER_REDIS_URL": redis_url}),
        "missing config": (["send", "hello", "--config", "/nonexistent/router.yaml"], {}),
    }
    results = _run_all(cases)
    for name in ("send", "get", "dlq list"):  # the client, the response reader, the dead-letter reader
        assert results[name] == (2, "", no_kafka + "\n"), name
    assert results["cache invalidate"] == (2, "", no_redis + "\n")
    code, out, err = results["missing config"]
    assert (code, out) == (2, "") and err.startswith("llm-router: cannot read config /nonexistent/router.yaml")
    assert len(err.splitlines()) == 1
