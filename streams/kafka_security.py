"""Kafka connection security in one place: :class:`~schemas.config.KafkaSettings` to the settings of aiokafka
producers, consumers and admin clients (:func:`kafka_client_kwargs`) and of the Faust worker
(:func:`faust_credentials`). Every Kafka client of the product is built from these, so TLS and SASL hold for the
worker, the client SDK, the dead-letter tools and topic administration alike.

The SASL password is read when a client is built, from an environment variable or a file, never from the config
file; it is kept out of logs and out of every repr (:class:`ClientKwargs` masks it)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from aiokafka.helpers import create_ssl_context

from schemas.config import KafkaSettings
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = ["ClientKwargs", "KafkaConnection", "faust_credentials", "kafka_client_kwargs", "sasl_password"]

#: what the client functions accept: the deployment's Kafka settings, or a bare bootstrap string (PLAINTEXT)
KafkaConnection: TypeAlias = KafkaSettings | str

_SECRET_KEYS = frozenset({"sasl_plain_password"})


class ClientKwargs(dict[str, Any]):
    """Keyword arguments of an aiokafka client; the password is masked when printed or logged."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRET_KEYS and v else v) for k, v in self.items()}
        return repr(shown)

    __str__ = __repr__


def _settings(kafka: KafkaConnection) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka


def sasl_password(settings: KafkaSettings, *, environ: Mapping[str, str] | None = None) -> str:
    """The SASL password from ``sasl_password_file`` or ``sasl_password_env``; errors name where, never what."""
    env = os.environ if environ is None else environ
    if settings.sasl_password_file:
        try:
            value = Path(settings.sasl_password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"kafka: cannot read sasl_password_file {settings.sasl_password_file}: {exc.strerror}"
            ) from None
        if not value:
            raise ConfigError(f"kafka: sasl_password_file {settings.sasl_password_file} is empty")
        return value
    name = settings.sasl_password_env
    value = env.get(name, "") if name else ""
    if not value:
        raise ConfigError(f"kafka: environment variable {name} is not set (it holds the SASL password)")
    return value


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A context that verifies the broker's certificate and host name (aiokafka's helper: hostname checks on)."""
    try:
        return create_ssl_context(
            cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"kafka: cannot load the Kafka TLS files: {exc}") from None


def kafka_client_kwargs(kafka: KafkaConnection, *, environ: Mapping[str, str] | None = None) -> ClientKwargs:
    """``bootstrap_servers`` and the security settings of an aiokafka producer, consumer or admin client."""
    s = _settings(kafka)
    kw = ClientKwargs(bootstrap_servers=s.bootstrap_servers, security_protocol=s.security_protocol)
    if s.security_protocol in ("SSL", "SASL_SSL"):
        kw["ssl_context"] = _ssl_context(s)
    if s.security_protocol.startswith("SASL_"):
        kw["sasl_mechanism"] = s.sasl_mechanism
        kw["sasl_plain_username"] = s.sasl_username
        kw["sasl_plain_password"] = sasl_password(s, environ=environ)
    return kw


def faust_credentials(settings: KafkaSettings, *, environ: Mapping[str, str] | None = None) -> CredentialsT | None:
    """Faust's ``broker_credentials`` for these settings (``None``: PLAINTEXT). Faust maps them onto the same
    aiokafka settings as :func:`kafka_client_kwargs` for its consumer, producer and topic creation."""
    from faust.auth import SASLCredentials, SSLCredentials  # only the worker pays for importing Faust

    kw = kafka_client_kwargs(settings, environ=environ)
    if settings.security_protocol == "SSL":
        return SSLCredentials(kw["ssl_context"])
    if settings.security_protocol.startswith("SASL_"):
        return SASLCredentials(
            username=kw["sasl_plain_username"],
            password=kw["sasl_plain_password"],
            mechanism=kw["sasl_mechanism"],
            ssl_context=kw.get("ssl_context"),
        )
    return None
