"""The project's real Kafka with authentication and authorisation: a second broker (SASL/SCRAM-SHA-512, the
standard authorizer, nothing allowed without an ACL) started by ``infra/bin/kafka-sasl-start.sh`` beside the
plain one, which is not touched.

A producer the ACLs let write the request topics is served by a worker that authenticates as the router; a
producer without that ACL is refused by the broker itself. The broker is started here when it is not running
(and stopped again afterwards); users and ACLs are created with the Kafka tools (``infra/bin/kafka-admin.sh``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from schemas.config import KafkaSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse, Priority
from streams.client import RouterClient
from streams.dlq import end_offsets
from streams.paths import state_dir
from streams.processes import ManagedProcess, port_open
from tests.integration.conftest import EnvFactory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "infra" / "bin"
PORT = int(os.environ.get("LLM_ROUTER_TEST_KAFKA_SASL_PORT", "9094"))
CONTROLLER_PORT = PORT + 1
# Read when this module is imported, before the session fixture points LLM_ROUTER_STATE_DIR at a temporary
# directory: the secured broker keeps its state where `kafka-sasl-start.sh` run by hand keeps it.
BROKER_STATE_DIR = state_dir()
START_TIMEOUT_S = 180
TOOL_TIMEOUT_S = 60


@dataclass(frozen=True)
class SaslBroker:
    bootstrap: str
    env: dict[str, str]

    async def admin(self, *args: str, stdin: str | None = None) -> None:
        """Run a Kafka tool as the broker's super user (kafka-admin.sh); fail the test with its output."""
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(BIN / "kafka-admin.sh"),
            *args,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), TOOL_TIMEOUT_S)
        assert proc.returncode == 0, f"kafka-admin.sh {args[0]} failed:\n{out.decode()}"

    async def user(self, name: str, password: str) -> None:
        await self.admin("scram-user", name, stdin=password + "\n")

    async def grant(self, users: list[str], operations: list[str], *resources: str) -> None:
        """Allow ``operations`` on every resource whose name starts with one given (``--topic P``, ``--group G``)."""
        args = [a for u in users for a in ("--allow-principal", f"User:{u}")]
        args += [a for op in operations for a in ("--operation", op)]
        await self.admin("acls", "--add", "--resource-pattern-type", "prefixed", *args, *resources)


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[SaslBroker]:
    env = {
        **os.environ,
        "LLM_ROUTER_STATE_DIR": str(BROKER_STATE_DIR),
        "KAFKA_PORT": str(PORT),
        "KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
    }
    started = not port_open("127.0.0.1", PORT)
    if started:
        run = subprocess.run(
            ["bash", str(BIN / "kafka-sasl-start.sh")], env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S
        )
        assert run.returncode == 0, f"kafka-sasl-start.sh failed:\n{run.stderr}"
    admin_conf = BROKER_STATE_DIR / f"kafka-{PORT}" / "admin.properties"
    assert admin_conf.is_file(), f"the broker on :{PORT} was not started by kafka-sasl-start.sh ({admin_conf})"
    try:
        yield SaslBroker(f"127.0.0.1:{PORT}", env)
    finally:
        if started:
            subprocess.run(["bash", str(BIN / "kafka-sasl-stop.sh")], env=env, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Principals:
    prefix: str
    group: str
    passwords: dict[str, Path]

    def settings(self, bootstrap: str, user: str) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=bootstrap,
            topic_prefix=self.prefix,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user,
            sasl_password_file=str(self.passwords[user]),
        )


@pytest.fixture
async def principals(sasl_broker: SaslBroker, tmp_path: Path) -> AsyncIterator[Principals]:
    """Three users with fresh passwords (kept in files) and the ACLs of this test's topics, removed afterwards:

    * ``router``: everything on its topics and its consumer group;
    * ``producer-ok``: write the request topics, read the responses;
    * ``producer-denied``: read the responses, see the request topics but not write them; it may write elsewhere
      (a sandbox topic), so the idempotent producer starts and the refusal is about the request topics alone.
    """
    tag = uuid.uuid4().hex[:10]
    prefix = group = f"sasl-{tag}"
    passwords: dict[str, Path] = {}
    for user in ("router", "producer-ok", "producer-denied"):
        passwords[user] = tmp_path / f"{user}.password"
        passwords[user].write_text(secrets.token_hex(16) + "\n")
    requests, responses, sandbox = f"{prefix}.requests.", f"{prefix}.responses", f"{prefix}.sandbox."
    await asyncio.gather(
        *(sasl_broker.user(user, path.read_text().strip()) for user, path in passwords.items()),
        sasl_broker.grant(["router"], ["All"], "--topic", f"{prefix}.", "--group", group),
        sasl_broker.grant(["producer-ok"], ["Write", "Describe"], "--topic", requests),
        sasl_broker.grant(["producer-ok", "producer-denied"], ["Read", "Describe"], "--topic", responses),
        sasl_broker.grant(["producer-denied"], ["Describe"], "--topic", requests),
        sasl_broker.grant(["producer-denied"], ["Write"], "--topic", sandbox),
    )
    yield Principals(prefix, group, passwords)
    resources = ["--topic", f"{prefix}.", "--topic", requests, "--topic", responses, "--topic", sandbox]
    await sasl_broker.admin(
        "acls", "--remove", "--force", "--resource-pattern-type", "prefixed", *resources, "--group", group
    )


async def _answer(fut: asyncio.Future[ChatResponse], worker: ManagedProcess, *, timeout_s: float) -> ChatResponse:
    """The response, failing at once (with the worker's log) when the worker exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not fut.done():
        assert worker.alive(), f"the worker exited:\n{worker.tail(40)}"
        assert loop.time() < deadline, f"no answer within {timeout_s} s:\n{worker.tail(40)}"
        await asyncio.wait({fut}, timeout=0.5)
    return fut.result()


def _request(tag: str) -> ChatRequest:
    return ChatRequest(
        request_id=f"sasl-{tag}-{uuid.uuid4().hex[:8]}",
        tenant="acme",
        priority=Priority.HIGH,
        messages=[ChatMessage(role="user", content=f"hello over SASL ({tag})")],
    )


async def test_a_producer_with_write_acl_is_served_and_one_without_is_refused_by_the_broker(
    sasl_broker: SaslBroker, principals: Principals, make_env: EnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = principals.settings(sasl_broker.bootstrap, "router")
    env = await make_env(  # creates the topics as `router`, and deletes them afterwards
        kafka={**router.model_dump(exclude_unset=True), "consumer_group": principals.group},
        worker={"metrics_port": 0},
        # the ACLs decide who may write the request topics; the router signs its own retry state
        security={"tenancy": "trusted-producers", "router_keys": [{"key": secrets.token_hex(32)}]},
    )
    worker = env.start_worker()
    request = _request("ok")
    async with RouterClient(principals.settings(sasl_broker.bootstrap, "producer-ok"), topics=env.topics) as ok:
        answer = await ok.submit(request)  # returns once the broker acknowledged the write

        async with RouterClient(principals.settings(sasl_broker.bootstrap, "producer-denied"), topics=env.topics) as no:
            with pytest.raises(TopicAuthorizationFailedError):
                await no.produce(_request("denied"))

        response = await _answer(answer, worker, timeout_s=90)  # the worker, authenticated as `router`
    assert (response.request_id, response.status) == (request.request_id, "ok"), response.error

    # the dead-letter tools connect with the same settings
    assert set(await end_offsets(router, env.topics.deadletter)) == set(range(env.config.kafka.deadletter_partitions))

    passwords = [path.read_text().strip() for path in principals.passwords.values()]
    logs = caplog.text + worker.tail(100_000)
    assert [p for p in passwords if p in logs] == []  # neither the clients nor the worker log a password


async def test_a_wrong_password_is_refused(
    sasl_broker: SaslBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the level, not the default: an in-process ``llm-router`` call earlier in the session (streams.cli main)
    # quiets aiokafka to CRITICAL for short-lived commands, and that level would outlive it here
    caplog.set_level(logging.ERROR, logger="aiokafka")
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    settings = KafkaSettings(
        bootstrap_servers=sasl_broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_username="admin",
        sasl_password_file=str(wrong),
    )
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(RouterClient(settings).start(), 60)  # a failed start closes the client
    assert "SaslAuthenticationFailed" in caplog.text  # aiokafka logs why it could not bootstrap
