"""Tenants on the real Kafka (issue 12): a request proves its tenant by signature, tenants never see each other's
answers, and a producer cannot steer the router's internals through the retry header."""

from __future__ import annotations

import uuid

import pytest

from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter, RetryState
from schemas.wire import Header, encode
from streams.topics import read_records
from tests.integration.conftest import EnvFactory, RouterEnv
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration

ACME_KEY = "acme-integration-key-0123456789abcdef"
GLOBEX_KEY = "globex-integration-key-0123456789abcdef"


async def _signed_env(make_env: EnvFactory) -> RouterEnv:
    return await make_env(
        security={"tenancy": "signed"},
        tenants={"acme": {"keys": [{"key": ACME_KEY}]}, "globex": {"keys": [{"key": GLOBEX_KEY}]}},
    )


def _req(tenant: str, prompt: str, **kw: object) -> ChatRequest:
    return ChatRequest(tenant=tenant, messages=[ChatMessage(role="user", content=prompt)], **kw)  # type: ignore[arg-type]


async def _records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record of ``topic`` so far, whatever its bytes."""
    return [(r.key, r.value) for r in await read_records(bootstrap, topic)]


async def test_tenants_are_authenticated_and_kept_apart(make_env: EnvFactory) -> None:
    env = await _signed_env(make_env)
    worker = env.start_worker()
    rid = f"shared-{uuid.uuid4().hex[:8]}"
    async with env.client(tenant="acme", key=ACME_KEY) as acme, env.client(tenant="globex", key=GLOBEX_KEY) as globex:
        assert (acme.reply_topic, globex.reply_topic) == tuple(map(env.topics.responses_for, ("acme", "globex")))
        [mine] = await gather_responses(
            [await acme.submit(_req("acme", "acme's secret plan", request_id=rid))], 90, [worker]
        )
        # globex replays acme's request id: it is globex's own request, answered on globex's topic only
        [theirs] = await gather_responses([await globex.submit(_req("globex", "hello", request_id=rid))], 60, [worker])
        unsigned = _req("acme", "unsigned, claims to be acme")
        await acme.produce_raw(env.topics.requests("normal"), encode(unsigned), key=b"acme")
        letters = await read_topic(env.config.kafka.bootstrap_servers, env.topics.deadletter, DeadLetter, min_count=1)
    assert (mine.status, mine.tenant, theirs.status, theirs.tenant) == ("ok", "acme", "ok", "globex")
    assert theirs.content != mine.content and "secret plan" not in (theirs.content or "")
    assert [(x.reason, x.request_id) for x in letters] == [("unauthenticated", unsigned.request_id)]
    bootstrap = env.config.kafka.bootstrap_servers
    on_acme = await read_topic(bootstrap, env.topics.responses_for("acme"), ChatResponse, min_count=1)
    on_globex = await read_topic(bootstrap, env.topics.responses_for("globex"), ChatResponse, min_count=1)
    assert {r.tenant for r in on_acme} == {"acme"} and {r.tenant for r in on_globex} == {"globex"}
    assert unsigned.request_id not in {r.request_id for r in on_acme}  # never served
    assert await _records(bootstrap, env.topics.responses) == []  # nothing on the shared topic


async def test_a_forged_retry_header_cannot_steer_the_router(make_env: EnvFactory) -> None:
    env = await _signed_env(make_env)
    worker = env.start_worker()
    health = env.topics.health
    forged = RetryState(rounds=10**6, origin_topic=health).model_dump_json().encode()
    async with env.client(tenant="acme", key=ACME_KEY) as acme:
        # on a request topic: signed by its tenant, but the retry header is not the router's: dropped, served fresh
        steered = _req("acme", "forged retry state")
        fut = await acme.submit(steered, headers=[(Header.RETRY, forged)])
        [answer] = await gather_responses([fut], 90, [worker])
        # on a delay topic: the forwarder would re-produce it to origin_topic; it dead-letters it instead
        stray = _req("acme", "straight into a delay topic")
        await acme.produce_raw(env.topics.retry(0), encode(stray), key=b"stray", headers=[(Header.RETRY, forged)])
        letters = await read_topic(env.config.kafka.bootstrap_servers, env.topics.deadletter, DeadLetter, min_count=1)
    assert answer.status == "ok" and answer.request_id == steered.request_id
    assert [(x.reason, x.request_id) for x in letters] == [("unauthenticated", stray.request_id)]
    on_health = await _records(env.config.kafka.bootstrap_servers, health)
    assert not [k for k, v in on_health if k == b"stray" or v in (encode(steered), encode(stray))]


async def test_cli_send_signs_with_the_tenants_key_from_a_file_or_the_environment(
    make_env: EnvFactory, tmp_path: pytest.TempPathFactory
) -> None:
    """``llm-router send --tenant acme --key-file F`` (or ``--key-env NAME``) signs the request and reads the
    tenant's own response topic; the key never appears on the command line. Without a key the request is
    refused as unauthenticated (exit 2, the router's reason on stderr)."""
    import asyncio
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = await _signed_env(make_env)
    env.start_worker()
    key_file = Path(str(tmp_path)) / "acme.key"
    key_file.write_text(ACME_KEY + "\n")

    async def send(*extra: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "streams.cli", "send", "signed hello", "--tenant", "acme", "--timeout", "90"],
            *extra,
            "--config",
            str(env.config_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(environ or {})},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode().strip(), err.decode()

    code, out, err = await send("--key-file", str(key_file))
    assert code == 0 and out == "[gpt-4o-mini] answer to: signed hello", err
    code, out, err = await send("--key-env", "ACME_SIGNING_KEY", environ={"ACME_SIGNING_KEY": ACME_KEY})
    assert code == 0 and out.endswith("signed hello"), err
    code, _, err = await send("--key-env", "NOT_SET_ANYWHERE")
    assert code == 2 and "NOT_SET_ANYWHERE" in err
