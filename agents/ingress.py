"""The trust boundary of the service: what the router believes about a consumed record, and why.

Everything a producer writes is untrusted: the body, the headers, the record timestamp. So the tenant is believed
only when the record carries its signature (or the deployment declares ``trusted-producers``); the retry state
is believed only when this router signed it (over the state *and* the record value); the priority is the class
topic's, whatever the body says; arrival is when the router first consumed the request; and the answer goes to
the tenant's own topic, or to a ``reply_to`` the tenant's config allows, never to one of the router's topics.
Pure decisions (no I/O): the pipeline publishes what they mean."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from infra.signing_keys import Keyring
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.events import (
    CancelRequest,
    ChatRequest,
    DeadLetterReason,
    ErrorCode,
    RetryState,
    utcnow,
    valid_identifier,
)
from schemas.signing import sign_retry, verify_request, verify_retry
from schemas.wire import MAX_RETRY_ROUNDS, Header, TopicNames, valid_tenant

__all__ = ["Admitted", "DroppedState", "Ingress", "IngressPolicy", "RawMessage", "Refused", "TopicDirectory"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMessage:
    """A consumed record, exactly as it came off the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: float | None = None  # the producer's: informative only, never trusted

    def header(self, name: str) -> bytes | None:
        for k, v in reversed(self.headers):
            if k == name:
                return v
        return None

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class TopicDirectory(Protocol):
    """What the pipeline asks Kafka about topics before it publishes to them."""

    async def exists(self, topic: str) -> bool: ...

    async def ensure_tenant(self, tenant: str) -> None:
        """Create the tenant's own topics if they are missing (per-tenant topics, first use)."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class IngressPolicy:
    """What this deployment trusts: from ``security`` and the tenants' identity blocks of the config."""

    signed: bool = True
    tenant_topics: bool = True
    reply_to_prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: RouterConfig) -> IngressPolicy:
        s = config.security
        prefixes = {t: tuple(c.reply_to_prefixes) for t, c in config.tenants.items() if c.reply_to_prefixes}
        return cls(s.tenancy == "signed", s.per_tenant_topics, prefixes)


@dataclass(frozen=True)
class Admitted:
    """A record the router serves: the request as believed, and where its outcome goes."""

    request: ChatRequest  # priority: the class topic's
    state: RetryState  # this router's signed state, or a fresh one (first consume: now, origin: this topic)
    queued_s: float  # since the router first consumed the request
    reply_topic: str
    failures_topic: str
    idempotency_key: str  # tenant-scoped


@dataclass(frozen=True)
class Refused:
    """A record the router does not serve: dead-lettered; an error response goes to ``reply_topic`` when set
    (never for an unauthenticated record: who would it be for?)."""

    reason: DeadLetterReason
    code: ErrorCode
    message: str
    reply_topic: str | None = None


@dataclass(frozen=True)
class DroppedState:
    """Why a retry state was not believed; ``forged``: it was not signed by this router."""

    message: str
    forged: bool = False


class Ingress:
    """Decides, per consumed record, what the router believes (see the module docstring)."""

    def __init__(
        self, policy: IngressPolicy, topics: TopicNames, keys: Keyring, *, now: Callable[[], datetime] = utcnow
    ) -> None:
        if not keys.router:
            raise ConfigError(
                "security.router_keys is required to run the service: it signs the retry state so that producers "
                "cannot forge it; give every worker the same secret, e.g. router_keys: [{key_env: LLM_ROUTER_KEY}] "
                "with LLM_ROUTER_KEY=$(openssl rand -hex 32)"
            )
        if policy.signed and not keys.tenants:
            raise ConfigError(
                "security.tenancy is signed but no tenant has keys (tenants.<id>.keys): every request would be "
                "dead-lettered unauthenticated; add keys, or declare tenancy: trusted-producers when Kafka ACLs "
                "restrict who writes the request topics"
            )
        self.policy = policy
        self.topics = topics
        self._keys = keys
        self._now = now
        self.dropped_states = 0

    def admit(self, raw: RawMessage, request: ChatRequest) -> Admitted | Refused:
        """Authenticate, take the priority from the topic, check ``reply_to``, resume or start the retry state."""
        tenant = request.tenant
        if not valid_tenant(tenant):
            why = f"tenant {tenant!r} is not a valid tenant id (1-64 letters, digits, '-' or '_')"
            shared = not (self.policy.signed or self.policy.tenant_topics)  # everyone reads the one topic anyway
            reply = self.topics.responses if shared else None
            return Refused(DeadLetterReason.INVALID_MESSAGE, ErrorCode.INVALID_TENANT, why, reply)
        if self.policy.signed and not self._authentic(raw, tenant):
            why = f"not signed by a key of tenant {tenant!r} ({Header.SIGNATURE} header missing or wrong)"
            return Refused(DeadLetterReason.UNAUTHENTICATED, ErrorCode.UNAUTHENTICATED, why)
        priority = self.topics.priority_of(raw.topic)
        if priority is not None and priority is not request.priority:  # overridden, not rejected
            request = request.model_copy(update={"priority": priority})
        default = self.reply_topic(tenant)
        reply = request.reply_to or default
        if reply != default and not self._may_reply_to(tenant, reply):
            why = f"reply_to {reply!r} is not allowed for tenant {tenant!r} (tenants.{tenant}.reply_to_prefixes)"
            return Refused(DeadLetterReason.FORBIDDEN, ErrorCode.REPLY_TO_FORBIDDEN, why, default)
        state = self.retry_state(raw)
        now = self._now()
        if state is None:
            state = RetryState(first_seen=now, not_before=now, origin_topic=raw.topic)
        return Admitted(
            request,
            state,
            max((now - state.first_seen).total_seconds(), 0.0),
            reply,
            self.failures_topic(tenant),
            self.idempotency_key(raw, request),
        )

    def cancel_key(self, raw: RawMessage, cancel: CancelRequest) -> str | Refused:
        """The idempotency key a cancel withdraws, when the router believes who sent it: in signed tenancy only
        the tenant's key may cancel its requests (else anyone could stop anyone's calls)."""
        if not valid_tenant(cancel.tenant):
            why = f"tenant {cancel.tenant!r} is not a valid tenant id"
            return Refused(DeadLetterReason.INVALID_MESSAGE, ErrorCode.INVALID_TENANT, why)
        if self.policy.signed and not self._authentic(raw, cancel.tenant):
            why = f"cancel not signed by a key of tenant {cancel.tenant!r} ({Header.SIGNATURE} header missing or wrong)"
            return Refused(DeadLetterReason.UNAUTHENTICATED, ErrorCode.UNAUTHENTICATED, why)
        return f"{cancel.tenant}:{cancel.request_id}"

    def requester_topic(self, raw: RawMessage, tenant: str | None, request_id: str | None) -> str | None:
        """Where to answer a record whose body did not validate but names its request (id, tenant): the tenant's
        default reply topic when the router believes the tenant (signed by its key, or trusted producers), never
        a ``reply_to`` from a body that did not validate; ``None`` when nobody can be identified."""
        tenant = tenant if tenant is not None else ChatRequest.model_fields["tenant"].default
        if not valid_identifier(request_id) or not valid_tenant(tenant):
            return None
        if self.policy.signed and not self._authentic(raw, tenant):
            return None
        return self.reply_topic(tenant)

    def reply_topic(self, tenant: str) -> str:
        """Where a tenant's answers go unless it names an allowed ``reply_to``."""
        return self.topics.responses_for(tenant) if self.policy.tenant_topics else self.topics.responses

    def failures_topic(self, tenant: str | None) -> str:
        if tenant is None or not self.policy.tenant_topics:
            return self.topics.failures
        return self.topics.failures_for(tenant)

    @staticmethod
    def idempotency_key(raw: RawMessage, request: ChatRequest) -> str:
        """``tenant:request_id`` (a tenant id has no ``:``): another tenant's request id is another request."""
        key = f"{request.tenant}:{request.request_id}"
        replay = raw.header(Header.REPLAY)
        return f"{key}#replay:{replay.decode(errors='replace')}" if replay else key

    def _authentic(self, raw: RawMessage, tenant: str) -> bool:
        return verify_request(self._keys.tenant(tenant), raw.header(Header.SIGNATURE), raw.value or b"")

    def _may_reply_to(self, tenant: str, topic: str) -> bool:
        if self.topics.is_own(topic):  # the router's own topics, other tenants' included: never
            return False
        return any(topic.startswith(p) for p in self.policy.reply_to_prefixes.get(tenant, ()))

    def check_retry(self, raw: RawMessage) -> RetryState | DroppedState | None:
        """The retry state when this router signed it for this record; why not when a state is there but not
        believed; ``None`` when there is none."""
        body = raw.header(Header.RETRY)
        if body is None:
            return None
        if not verify_retry(self._keys.router, raw.header(Header.RETRY_SIGNATURE), body, raw.value or b""):
            return DroppedState(f"{Header.RETRY} header not signed by this router", forged=True)
        try:
            state = RetryState.model_validate_json(body)
        except ValidationError:
            return DroppedState(f"malformed {Header.RETRY} header")
        if state.rounds > MAX_RETRY_ROUNDS:
            return DroppedState(f"{Header.RETRY} header with {state.rounds} rounds (at most {MAX_RETRY_ROUNDS})")
        if state.origin_topic not in self.topics.all_requests:
            return DroppedState(f"{Header.RETRY} header with origin_topic {state.origin_topic!r}, not a request topic")
        return state

    def retry_state(self, raw: RawMessage) -> RetryState | None:
        """The retry state of a record on a request topic, when believed; a dropped one is logged (the record is
        then served as a new request)."""
        checked = self.check_retry(raw)
        if isinstance(checked, RetryState) and checked.origin_topic != raw.topic:
            checked = DroppedState(f"{Header.RETRY} header of {checked.origin_topic}, not of this topic")
        if isinstance(checked, DroppedState):
            self.dropped_states += 1
            log.warning(
                "dropping the retry state of %s (serving it as a new request): %s", raw.where(), checked.message
            )
            return None
        return checked

    def retry_headers(self, raw: RawMessage, state: RetryState) -> list[tuple[str, bytes]]:
        """The headers of ``raw`` re-produced to a delay topic: the producer's, with ``state`` signed."""
        own = (Header.RETRY, Header.RETRY_SIGNATURE)
        headers = [(k, v) for k, v in raw.headers if k not in own]
        body = state.model_dump_json().encode()
        headers.append((Header.RETRY, body))
        headers.append((Header.RETRY_SIGNATURE, sign_retry(self._keys.router[0], body, raw.value or b"")))
        return headers
