"""``llm-router`` commands against the real Kafka, Redis and a worker: send / get, cache hits, dead letters."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from schemas.events import DeadLetter
from tests.integration.conftest import RouterEnv
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.integration


async def _cli(env: RouterEnv, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        *args,
        "--config",
        str(env.config_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_send_no_wait_then_get_and_the_cache_hit_said_plainly(router_env: RouterEnv) -> None:
    router_env.start_worker()
    code, out, err = await _cli(router_env, "send", "What is a partition?", "--no-wait")
    assert code == 0, err
    request_id = out.strip()
    code, out, err = await _cli(router_env, "get", request_id, "--timeout", "120")
    assert code == 0, err
    assert out.strip() == "[gpt-4o-mini] answer to: What is a partition?"
    assert "from the cache" not in err and "attempt" in err
    code, out, err = await _cli(router_env, "send", "What is a partition?", "--timeout", "90")
    assert code == 0 and out.strip() == "[gpt-4o-mini] answer to: What is a partition?"
    assert "from the cache (exact match), no provider call" in err
    code, out, err = await _cli(router_env, "get", "never-sent-request", "--timeout", "1")
    assert (code, out) == (3, "") and "no response for never-sent-request found within 1s" in err
    assert router_env.fake.stats(router_env.backend)["ok"] == 1


async def test_dead_letters_listed_by_time_and_replay_guarded(router_env: RouterEnv) -> None:
    router_env.start_worker()
    for i in range(2):
        code, _, err = await _cli(router_env, "send", f"hello {i}", "--model", "no-such-model", "--timeout", "90")
        assert code == 2 and "error no_route" in err, err
    letters = await read_topic(
        router_env.config.kafka.bootstrap_servers, router_env.topics.deadletter, DeadLetter, min_count=2
    )
    code, out, err = await _cli(router_env, "dlq", "list", "--reason", "no_route")
    assert code == 0, err
    ids_in_output = [line.split()[2] for line in out.splitlines()[2:-1]]
    assert ids_in_output == [x.dead_letter_id for x in sorted(letters, key=lambda x: x.at)]
    assert out.splitlines()[-1] == "2 dead letters match"

    code, out, err = await _cli(router_env, "dlq", "replay", "--reason", "no_route", "--dry-run")
    assert code == 0 and "matched 2: would replay 2" in out
    assert "warning: 2 no_route letter(s) would fail again" in err and "--to-model" in err
    code, out, err = await _cli(
        router_env, "dlq", "replay", "--reason", "no_route", "--dry-run", "--to-model", "gpt-4o"
    )
    assert code == 0 and "warning" not in err
    code, out, err = await _cli(router_env, "dlq", "replay")  # no filter, no terminal, no --all: refused
    assert code == 2 and "--all" in err and out == ""
