"""Kafka connection security: the settings, their validation, and the one mapping to client kwargs (aiokafka
producers/consumers/admin clients) and to Faust's broker credentials. No broker needed; the SASL broker test is
tests/integration/test_kafka_sasl.py."""

from __future__ import annotations

import ast
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from schemas.config import KafkaSettings, RouterConfig
from schemas.errors import ConfigError
from streams.kafka_security import faust_credentials, kafka_client_kwargs, sasl_password

REPO = Path(__file__).resolve().parents[3]
SECRET = "s3cret-Pa55word"


def _sasl(**kw: Any) -> KafkaSettings:
    base: dict[str, Any] = {
        "bootstrap_servers": "b1:9094,b2:9094",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_username": "router",
        "sasl_password_env": "ROUTER_KAFKA_PASSWORD",
    }
    return KafkaSettings(**{**base, **kw})


ENV = {"ROUTER_KAFKA_PASSWORD": SECRET}
OPENSSL_REQ = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed CA certificate and a client certificate + key (PEM), made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")
    files = {"ca": d / "ca.pem", "ca_key": d / "ca.key", "cert": d / "client.pem", "key": d / "client.key"}
    for cert, key, cn in ((files["ca"], files["ca_key"], "test-ca"), (files["cert"], files["key"], "client")):
        subprocess.run(
            [*OPENSSL_REQ, "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
    return {k: str(v) for k, v in files.items()}


# --- settings --------------------------------------------------------------------------------------------------


def test_the_default_is_plaintext_and_needs_no_secret() -> None:
    k = KafkaSettings()
    assert (k.security_protocol, k.sasl_username, k.sasl_password_env, k.sasl_password_file) == (
        "PLAINTEXT",
        None,
        None,
        None,
    )
    assert kafka_client_kwargs(k, environ={}) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"security_protocol": "SASL_PLAINTEXT"}, "sasl_username"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "exactly one of sasl_password_env"),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_username": "u",
                "sasl_password_env": "E",
                "sasl_password_file": "f",
            },
            "exactly one of sasl_password_env",
        ),
        ({"sasl_username": "u", "sasl_password_env": "E"}, "need security_protocol SASL_PLAINTEXT or SASL_SSL"),
        ({"ssl_cafile": "/ca.pem"}, "need security_protocol SSL or SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_keyfile": "/k.pem"}, "ssl_keyfile needs ssl_certfile"),
        ({"security_protocol": "SASL_GSSAPI"}, "security_protocol"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
        (
            {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_env": "not a name"},
            "sasl_password_env",
        ),
    ],
)
def test_inconsistent_security_settings_are_rejected(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        KafkaSettings(**fields)


def test_no_password_can_be_written_into_the_config() -> None:
    with pytest.raises(ValidationError, match="sasl_password"):
        KafkaSettings.model_validate({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "x"})


# --- the password ----------------------------------------------------------------------------------------------


def test_the_password_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert sasl_password(_sasl(), environ=ENV) == SECRET
    secret_file = tmp_path / "kafka.password"
    secret_file.write_text(SECRET + "\n")  # files usually end with a newline: it is not part of the password
    from_file = _sasl(sasl_password_env=None, sasl_password_file=str(secret_file))
    assert sasl_password(from_file, environ={}) == SECRET


@pytest.mark.parametrize(
    ("fields", "environ", "needle"),
    [
        ({}, {}, "environment variable ROUTER_KAFKA_PASSWORD is not set"),
        ({}, {"ROUTER_KAFKA_PASSWORD": ""}, "environment variable ROUTER_KAFKA_PASSWORD is not set"),
        ({"sasl_password_env": None, "sasl_password_file": "/nonexistent/pw"}, {}, "cannot read sasl_password_file"),
    ],
)
def test_a_missing_password_is_a_config_error_that_does_not_leak(
    fields: dict[str, Any], environ: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        kafka_client_kwargs(_sasl(**fields), environ=environ)


def test_an_empty_password_file_is_a_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "pw"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        kafka_client_kwargs(_sasl(sasl_password_env=None, sasl_password_file=str(empty)), environ={})


# --- the mapping -----------------------------------------------------------------------------------------------


def test_sasl_scram_over_plaintext_maps_to_aiokafka_kwargs() -> None:
    kw = kafka_client_kwargs(_sasl(), environ=ENV)
    assert dict(kw) == {
        "bootstrap_servers": "b1:9094,b2:9094",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "router",
        "sasl_plain_password": SECRET,
    }


def test_a_bare_bootstrap_string_means_plaintext() -> None:
    assert kafka_client_kwargs("h:1", environ={}) == {"bootstrap_servers": "h:1", "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_every_mechanism_reaches_the_client(mechanism: str) -> None:
    assert kafka_client_kwargs(_sasl(sasl_mechanism=mechanism), environ=ENV)["sasl_mechanism"] == mechanism


def test_tls_builds_a_verifying_ssl_context_from_the_files(tls_files: dict[str, str]) -> None:
    k = KafkaSettings(
        security_protocol="SSL",
        ssl_cafile=tls_files["ca"],
        ssl_certfile=tls_files["cert"],
        ssl_keyfile=tls_files["key"],
    )
    kw = kafka_client_kwargs(k, environ={})
    ctx = kw["ssl_context"]
    assert kw["security_protocol"] == "SSL"
    assert isinstance(ctx, ssl.SSLContext)
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test-ca"),),)]
    assert "sasl_plain_password" not in kw


def test_sasl_over_tls_has_both(tls_files: dict[str, str]) -> None:
    kw = kafka_client_kwargs(_sasl(security_protocol="SASL_SSL", ssl_cafile=tls_files["ca"]), environ=ENV)
    assert (kw["security_protocol"], kw["sasl_plain_password"]) == ("SASL_SSL", SECRET)
    assert isinstance(kw["ssl_context"], ssl.SSLContext)


def test_an_unreadable_tls_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the Kafka TLS files"):
        kafka_client_kwargs(KafkaSettings(security_protocol="SSL", ssl_cafile=str(tmp_path / "nope.pem")), environ={})


# --- faust -----------------------------------------------------------------------------------------------------


def test_faust_gets_no_credentials_for_plaintext() -> None:
    assert faust_credentials(KafkaSettings(), environ={}) is None


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL", "SSL"])
def test_faust_credentials_map_to_the_same_client_kwargs(protocol: str, tls_files: dict[str, str]) -> None:
    """Faust turns its credentials into aiokafka kwargs itself: they must come out as ours do."""
    tls = {"ssl_cafile": tls_files["ca"]} if "SSL" in protocol else {}
    k = (
        _sasl(security_protocol=protocol, **tls)
        if "SASL" in protocol
        else KafkaSettings(security_protocol="SSL", **tls)
    )
    creds = faust_credentials(k, environ=ENV)
    assert isinstance(creds, SASLCredentials if "SASL" in protocol else SSLCredentials)
    theirs = credentials_to_aiokafka_auth(creds)
    ours = kafka_client_kwargs(k, environ=ENV)
    assert {key: v for key, v in theirs.items() if key != "ssl_context" and v is not None} == {
        key: v for key, v in ours.items() if key not in ("bootstrap_servers", "ssl_context")
    }
    assert isinstance(theirs.get("ssl_context"), ssl.SSLContext) == ("SSL" in protocol)


def test_the_worker_app_settings_carry_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.app import faust_settings

    monkeypatch.setenv("ROUTER_KAFKA_PASSWORD", SECRET)
    config = RouterConfig.model_validate(
        {
            "kafka": _sasl().model_dump(),
            "backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m"]}],
        }
    )
    creds = faust_settings(config)["broker_credentials"]
    assert isinstance(creds, SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == ("router", SECRET, "SCRAM-SHA-512")
    plain = RouterConfig.model_validate(
        {"backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m"]}]}
    )
    assert faust_settings(plain)["broker_credentials"] is None


# --- secrets stay secret ---------------------------------------------------------------------------------------


def test_the_password_is_masked_in_reprs_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _sasl()
    kw = kafka_client_kwargs(settings, environ=ENV)
    creds = faust_credentials(settings, environ=ENV)
    for text in (repr(settings), str(settings), repr(kw), str(kw), repr(creds), settings.model_dump_json()):
        assert SECRET not in text
    assert "sasl_plain_password" in repr(kw)  # masked, not hidden: the key shows it is set
    assert SECRET not in caplog.text


async def test_the_client_sdk_and_tools_connect_with_the_security_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.client import RouterClient
    from streams.publishers import KafkaPublisher

    monkeypatch.setenv("ROUTER_KAFKA_PASSWORD", SECRET)
    settings = _sasl()
    client, publisher = RouterClient(settings), KafkaPublisher(settings)
    try:
        for kafka in (client._producer.client, client._consumer._client, publisher._producer.client):
            assert (kafka._security_protocol, kafka._sasl_mechanism, kafka._sasl_plain_username) == (
                "SASL_PLAINTEXT",
                "SCRAM-SHA-512",
                "router",
            )
            assert kafka._bootstrap_servers == "b1:9094,b2:9094"
    finally:
        await client.stop()
        await publisher.stop()


def _kafka_client_calls(path: Path) -> list[tuple[int, ast.Call]]:
    names = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in names:
                calls.append((node.lineno, node))
    return calls


def test_every_kafka_client_in_the_product_is_built_with_the_security_kwargs() -> None:
    """A new tool that builds its own producer/consumer/admin client must not forget TLS/SASL: each construction
    spreads ``**kafka_client_kwargs(...)`` (the Faust worker gets ``faust_credentials``)."""
    offenders, found = [], 0
    for layer in ("streams", "infra", "agents", "llm_router"):
        for path in sorted((REPO / layer).rglob("*.py")):
            for line, call in _kafka_client_calls(path):
                found += 1
                spread = [k.value for k in call.keywords if k.arg is None]
                uses = any(
                    isinstance(v, ast.Call) and getattr(v.func, "id", "") == "kafka_client_kwargs" for v in spread
                )
                explicit = {k.arg for k in call.keywords} & {"bootstrap_servers", "security_protocol"}
                if not uses or explicit:
                    offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert found >= 6
    assert offenders == []
