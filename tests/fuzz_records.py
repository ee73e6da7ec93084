"""Hostile request records for fuzzing a real worker (issue 13), shared by ``tests/integration/test_fuzz_worker.py``
and ``benchmarks/chaos/load.py`` (``fuzz``): hypothesis strategies for records (malformed JSON, wrong types,
missing fields, payloads up to the broker's limit, invalid UTF-8, deep nesting, huge integers, unknown
models/routes, huge message lists, out-of-range ``max_tokens``, forged headers) interleaved with valid requests,
and the oracle that says what the router must do with each one.

The oracle is written from the router's documented promises, not from its code paths: the order of the checks
(size, then bytes, then JSON, then the schema, then the trust boundary, then routing) and the code each one
yields. It uses the schema itself (``ChatRequest``) because the schema *is* the contract of the request body.

A strategy draws a :class:`RecordSpec`; :meth:`RecordSpec.build` turns it into bytes with a request id chosen by
the caller (hypothesis likes to draw the same small values again and again: ids drawn by it would collide, and a
second record with a served id would be answered from the idempotency store instead of being served)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import PRIORITIES, ChatRequest, ErrorCode, valid_identifier
from schemas.signing import sign_request, verify_request
from schemas.wire import Header, valid_tenant

__all__ = [
    "ANSWERED",
    "Expected",
    "FuzzContext",
    "FuzzRecord",
    "RecordSpec",
    "expected_outcome",
    "fuzz_records",
    "generate_records",
    "record_spec",
]

#: the oracle's verdict for a record the router must serve
ANSWERED = "answered"
#: nesting well past the JSON parser's recursion limit (between the two, the outcome depends on the stack)
DEEP = 3 * sys.getrecursionlimit()
#: Python refuses to convert integers longer than this (``sys.get_int_max_str_digits``)
INT_DIGITS = 4300


@dataclass(frozen=True)
class FuzzContext:
    """What the oracle must know about the deployment under test."""

    tenant: str  # a tenant with a signing key (tenancy: signed)
    key: bytes
    models: frozenset[str]  # models some backend serves
    max_record_bytes: int  # worker.max_request_bytes
    max_produce_bytes: int = 1_000_000  # the largest record the producer and the broker accept (~1 MB)
    other_tenant: str = "beta"  # a tenant with another key (a request re-labelled to it is not authentic)
    other_key: bytes = b"other-tenant-key-0123456789abcdef"
    aliases: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    topic_prefix: str = "llm"

    def keys_of(self, tenant: str) -> list[bytes]:
        return {self.tenant: [self.key], self.other_tenant: [self.other_key]}.get(tenant, [])


@dataclass(frozen=True)
class FuzzRecord:
    """One record as produced: ``request_id`` is the id its answer (or error response) would carry."""

    kind: str
    priority: str
    value: bytes
    headers: list[tuple[str, bytes]]
    key: bytes
    request_id: str


@dataclass(frozen=True)
class Expected:
    """``outcome``: :data:`ANSWERED` or the dead letter's code; ``error_response``: an error response is due too
    (the router knows who asked and where the answer may go)."""

    outcome: str
    error_response: bool = False


@dataclass(frozen=True)
class RecordSpec:
    """A drawn record before its request id: ``body`` is a JSON-able dict (``raw`` bytes replace it when set;
    ``"@RID@"`` in them is replaced by the id), ``sign``: sign it with the context's tenant key (the last
    ``llm-signature`` header), ``extra_headers`` come before the signature."""

    kind: str
    priority: str
    body: dict[str, Any] | None = None
    raw: bytes | None = None
    sign: bool = True
    extra_headers: list[tuple[str, bytes]] = field(default_factory=list)
    forged_signature: bytes | None = None  # sent instead of the real one
    pad_to: int | None = None  # pad metadata so the value has about this many bytes

    def build(self, request_id: str, ctx: FuzzContext) -> FuzzRecord:
        value = self._value(request_id)
        headers = [*self.extra_headers]
        if self.forged_signature is not None:
            headers.append((Header.SIGNATURE, self.forged_signature))
        elif self.sign:
            headers.append((Header.SIGNATURE, sign_request(ctx.key, value)))
        key = request_id.encode()
        return FuzzRecord(self.kind, self.priority, value, headers, key, request_id)

    def _value(self, request_id: str) -> bytes:
        if self.raw is not None:
            return self.raw.replace(b"@RID@", request_id.encode())
        body = {"request_id": request_id, **(self.body or {})}
        value = json.dumps(body, ensure_ascii=False).encode()
        if self.pad_to is not None and self.pad_to > len(value):
            meta = dict(body.get("metadata") or {})
            meta["pad"] = ""
            room = self.pad_to - len(json.dumps({**body, "metadata": meta}, ensure_ascii=False).encode())
            meta["pad"] = "x" * max(room, 0)
            value = json.dumps({**body, "metadata": meta}, ensure_ascii=False).encode()
        return value


# --- the oracle -------------------------------------------------------------------------------------------------
def _record_bytes(record: FuzzRecord) -> int:
    return len(record.value) + len(record.key) + sum(len(k.encode()) + len(v) for k, v in record.headers)


def _last_header(record: FuzzRecord, name: str) -> bytes | None:
    found = [v for k, v in record.headers if k == name]
    return found[-1] if found else None


def _parsed(value: bytes) -> object | Expected:
    """The body as JSON, or the decode verdict."""
    if not value:
        return Expected(ErrorCode.EMPTY_MESSAGE)
    try:
        payload = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Expected(ErrorCode.INVALID_JSON)
    except RecursionError:
        return Expected(ErrorCode.JSON_TOO_DEEP)
    except ValueError:
        return Expected(ErrorCode.NUMBER_TOO_LARGE)
    return payload if isinstance(payload, dict) else Expected(ErrorCode.INVALID_JSON)


def _routable(request: ChatRequest, ctx: FuzzContext) -> bool:
    """A route hint must name a route, an alias or a served model; a model hint (other than ``auto``) an alias
    or a served model (this deployment routes nothing by rules)."""
    if request.route is not None:
        return request.route in ctx.routes | ctx.aliases | ctx.models
    return request.model in (None, "auto") or request.model in ctx.aliases | ctx.models


def expected_outcome(record: FuzzRecord, ctx: FuzzContext) -> Expected:
    """What the router must do with ``record`` in a signed deployment with per-tenant topics and no
    ``reply_to_prefixes``: the checks in the router's documented order."""
    if _record_bytes(record) > ctx.max_record_bytes:
        return Expected(ErrorCode.RECORD_TOO_LARGE)
    payload = _parsed(record.value)
    if isinstance(payload, Expected):
        return payload
    try:
        request = ChatRequest.model_validate(payload)
    except ValidationError:
        return Expected(ErrorCode.SCHEMA_INVALID, error_response=_identified(record, payload, ctx))
    except RecursionError:
        return Expected(ErrorCode.JSON_TOO_DEEP)
    if not valid_tenant(request.tenant):
        return Expected(ErrorCode.INVALID_TENANT)  # signed: nobody authenticated to answer
    if not verify_request(ctx.keys_of(request.tenant), _last_header(record, Header.SIGNATURE), record.value):
        return Expected(ErrorCode.UNAUTHENTICATED)
    if request.reply_to is not None and request.reply_to != f"{ctx.topic_prefix}.responses.{request.tenant}":
        return Expected(ErrorCode.REPLY_TO_FORBIDDEN, error_response=True)
    if not _routable(request, ctx):
        return Expected(ErrorCode.NO_ROUTE, error_response=True)
    return Expected(ANSWERED)


def _identified(record: FuzzRecord, payload: dict[str, Any], ctx: FuzzContext) -> bool:
    """An invalid body still names its requester: a valid request id, and a tenant whose signature holds."""
    tenant = payload.get("tenant", "default")
    if not valid_identifier(payload.get("request_id")) or not isinstance(tenant, str) or not valid_tenant(tenant):
        return False
    return verify_request(ctx.keys_of(tenant), _last_header(record, Header.SIGNATURE), record.value)


# --- strategies -------------------------------------------------------------------------------------------------
_TEXT = st.text(max_size=120)
_ROLES = st.sampled_from(["user", "system", "assistant", "tool"])
_NAME = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z")


def _message() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"role": _ROLES, "content": _TEXT})


@st.composite
def _valid_body(draw: st.DrawFn, ctx: FuzzContext) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": ctx.tenant,
        "messages": [{"role": "user", "content": draw(_TEXT)}, *draw(st.lists(_message(), max_size=4))],
    }
    optional = {
        "model": st.sampled_from(sorted(ctx.models | {"auto"})),
        "max_tokens": st.integers(1, 1_000_000),
        "temperature": st.floats(0, 2, allow_nan=False),
        "metadata": st.dictionaries(_NAME, _TEXT, max_size=3),
        "priority": st.sampled_from([p.value for p in PRIORITIES]),
        "cache": st.sampled_from(["use", "bypass", "refresh"]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


def _priority() -> st.SearchStrategy[str]:
    return st.sampled_from([p.value for p in PRIORITIES])


@st.composite
def _valid(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    return RecordSpec("valid", draw(_priority()), body=draw(_valid_body(ctx)))


@st.composite
def _malformed_json(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    good = json.dumps({"request_id": "@RID@", **draw(_valid_body(ctx))}).encode()
    how = draw(st.sampled_from(["truncated", "garbage", "trailing", "not-object", "empty"]))
    raw = {
        "truncated": good[: draw(st.integers(1, max(len(good) - 1, 1)))],
        "garbage": draw(st.binary(min_size=1, max_size=200)),
        "trailing": good + b"}",
        "not-object": draw(st.sampled_from([b"[1, 2]", b'"text"', b"42", b"null", b"true", b"[]"])),
        "empty": b"",
    }[how]
    return RecordSpec(f"malformed-json/{how}", draw(_priority()), raw=raw)


_WRONG = {
    "messages": st.one_of(_TEXT, st.integers(), st.lists(st.integers(), min_size=1, max_size=3), st.just({})),
    "tenant": st.one_of(st.integers(), st.lists(_TEXT, max_size=2), st.none()),
    "max_tokens": st.one_of(_TEXT, st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f % 1 != 0)),
    "temperature": st.one_of(_TEXT.filter(lambda s: not s.strip().replace(".", "", 1).isdigit()), st.just([])),
    "metadata": st.one_of(st.lists(_TEXT, max_size=2), st.dictionaries(_NAME, st.integers(), min_size=1)),
    "priority": st.one_of(st.integers(), st.just("urgent")),
    "cache": st.just("sometimes"),
    "schema_version": st.sampled_from([0, 99, "1x"]),
    "unknown_field": st.just(1),
}


@st.composite
def _wrong_types(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    name = draw(st.sampled_from(sorted(_WRONG)))
    body[name] = draw(_WRONG[name])
    return RecordSpec(f"wrong-type/{name}", draw(_priority()), body=body)


@st.composite
def _missing_fields(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    how = draw(st.sampled_from(["messages", "role", "content", "empty-list"]))
    if how == "messages":
        del body["messages"]
    elif how == "empty-list":
        body["messages"] = []
    else:
        del body["messages"][0][how]
    return RecordSpec(f"missing/{how}", draw(_priority()), body=body)


@st.composite
def _oversized(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    """Over the worker's limit, up to what the broker accepts (a larger record cannot be produced at all); or a
    valid request just under the limit (it must be served)."""
    over = draw(st.booleans())
    size = (
        draw(st.integers(ctx.max_record_bytes + 1, ctx.max_produce_bytes))
        if over
        else draw(st.integers(ctx.max_record_bytes - 50_000, ctx.max_record_bytes - 2_000))
    )
    return RecordSpec(
        "oversized" if over else "large-valid", draw(_priority()), body=draw(_valid_body(ctx)), pad_to=size
    )


_BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]


@st.composite
def _invalid_utf8(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    good = json.dumps({"request_id": "@RID@", **draw(_valid_body(ctx))}).encode()
    marker = b'"content": "'
    at = good.index(marker) + len(marker)
    bad = draw(st.sampled_from(_BAD_UTF8))
    return RecordSpec("invalid-utf8", draw(_priority()), raw=good[:at] + bad + good[at:])


@st.composite
def _lone_surrogate(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\udbff"]))
    field_ = draw(st.sampled_from(["content", "metadata"]))
    raw = json.dumps({"request_id": "@RID@", **body}).encode()
    if field_ == "content":
        marker = b'"content": "'
        at = raw.index(marker) + len(marker)
        raw = raw[:at] + escape.encode() + raw[at:]
    else:
        raw = raw[:-1] + b', "metadata": {"k": "' + escape.encode() + b'"}}' if "metadata" not in body else raw
        if "metadata" in body:
            raw = raw.replace(b'"metadata": {', b'"metadata": {"s": "' + escape.encode() + b'", ', 1)
    return RecordSpec(f"lone-surrogate/{field_}", draw(_priority()), raw=raw)


@st.composite
def _deep(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    depth = draw(st.one_of(st.integers(2, 50), st.integers(DEEP, DEEP * 20)))
    where = draw(st.sampled_from(["metadata", "content", "root"]))
    nest = draw(st.sampled_from([(b'{"a": ', b"}"), (b"[", b"]")]))
    inner = nest[0] * depth + b"1" + nest[1] * depth
    good = json.dumps({"request_id": "@RID@", **draw(_valid_body(ctx))}).encode()
    raw = {
        "metadata": good[:-1] + b', "metadata": ' + inner + b"}",
        "content": good.replace(b'"content": "', b'"content": ' + inner + b', "x": "', 1),
        "root": inner,
    }[where]
    return RecordSpec(f"deep/{where}/{'huge' if depth >= DEEP else 'small'}", draw(_priority()), raw=raw)


@st.composite
def _huge_int(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    digits = draw(st.one_of(st.integers(INT_DIGITS + 1, 50_000), st.integers(20, INT_DIGITS)))
    where = draw(st.sampled_from(["max_tokens", "temperature", "schema_version", "metadata"]))
    number = b"-" * draw(st.integers(0, 1)) + b"9" * digits
    good = json.dumps({"request_id": "@RID@", **draw(_valid_body(ctx))}).encode()
    if where == "metadata":
        raw = good[:-1] + b', "metadata": {"n": ' + number + b"}}"
    else:
        raw = good[:-1] + b', "' + where.encode() + b'": ' + number + b"}"
    kind = "huge-int" if digits > INT_DIGITS else "long-int"
    return RecordSpec(f"{kind}/{where}", draw(_priority()), raw=raw)


@st.composite
def _unknown_target(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    known = ctx.models | ctx.aliases | ctx.routes | {"auto"}
    name = draw(st.one_of(_NAME, st.text(min_size=1, max_size=40)).filter(lambda n: n not in known))
    which = draw(st.sampled_from(["model", "route"]))
    body.pop("model", None)
    body[which] = name
    return RecordSpec(f"unknown-{which}", draw(_priority()), body=body)


@st.composite
def _message_list(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    n = draw(st.one_of(st.integers(1_025, 5_000), st.integers(200, 1_024)))
    body["messages"] = [{"role": "user", "content": f"m{i}"} for i in range(n)]
    return RecordSpec("huge-list/over" if n > 1_024 else "huge-list/ok", draw(_priority()), body=body)


@st.composite
def _max_tokens(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    body = draw(_valid_body(ctx))
    body["max_tokens"] = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001, max_value=2**63)))
    return RecordSpec("max-tokens", draw(_priority()), body=body)


@dataclass(frozen=True)
class _TwoSignatures(RecordSpec):
    """A real signature, then a forged one after it (the last ``llm-signature`` header is the one checked)."""

    def build(self, request_id: str, ctx: FuzzContext) -> FuzzRecord:
        value = self._value(request_id)
        forged = self.forged_signature or b"x"
        headers = [(Header.SIGNATURE, sign_request(ctx.key, value)), (Header.SIGNATURE, forged)]
        return FuzzRecord(self.kind, self.priority, value, headers, request_id.encode(), request_id)


_FORGERIES = [
    "retry-state",
    "retry-garbage",
    "signature",
    "no-signature",
    "dup-signature",
    "other-tenant",
    "unknown-tenant",
    "invalid-tenant",
    "reply-to",
    "tenant-header",
    "replay",
    "request-id",
]
_RETRY_STATE = json.dumps(
    {"first_seen": "2020-01-01T00:00:00Z", "not_before": "2020-01-01T00:00:00Z", "rounds": 3, "origin_topic": "x"}
).encode()


@st.composite
def _forged_headers(draw: st.DrawFn, ctx: FuzzContext) -> RecordSpec:
    """Headers and identities a producer may forge: retry state, signatures, tenants, reply topics."""
    body = draw(_valid_body(ctx))
    how = draw(st.sampled_from(_FORGERIES))
    junk = draw(st.binary(max_size=64))
    kind, priority = f"forged/{how}", draw(_priority())
    if how == "retry-state":
        forged = [(Header.RETRY, _RETRY_STATE), (Header.RETRY_SIGNATURE, junk)]
        return RecordSpec(kind, priority, body=body, extra_headers=forged)
    if how in ("retry-garbage", "tenant-header", "replay", "request-id"):
        name = {"retry-garbage": Header.RETRY, "tenant-header": "tenant"}.get(how, Header.REPLAY)
        name = Header.REQUEST_ID if how == "request-id" else name
        return RecordSpec(kind, priority, body=body, extra_headers=[(name, junk or b"x")])
    if how == "signature":
        return RecordSpec(kind, priority, body=body, forged_signature=junk)
    if how == "no-signature":
        return RecordSpec(kind, priority, body=body, sign=False)
    if how == "dup-signature":
        return _TwoSignatures(kind, priority, body=body, forged_signature=junk or b"x")
    tenant = {"other-tenant": st.just(ctx.other_tenant), "unknown-tenant": _NAME}.get(how)
    if tenant is not None:  # signed with the tenant's key, but naming another tenant
        return RecordSpec(kind, priority, body={**body, "tenant": draw(tenant)})
    if how == "invalid-tenant":
        bad = draw(st.sampled_from(["a.b", "x:y", "-lead", "t/1", "a" * 65, "_x"]))
        return RecordSpec(kind, priority, body={**body, "tenant": bad})
    foreign = draw(st.sampled_from([f"{ctx.topic_prefix}.responses.{ctx.other_tenant}", "elsewhere", "llm.responses"]))
    return RecordSpec(kind, priority, body={**body, "reply_to": foreign})


#: (weight, strategy): about 40 % valid traffic, the rest spread over the hostile kinds
_KINDS: list[tuple[int, Callable[[FuzzContext], st.SearchStrategy[RecordSpec]]]] = [
    (38, _valid),
    (6, _malformed_json),
    (8, _wrong_types),
    (4, _missing_fields),
    (4, _oversized),
    (4, _invalid_utf8),
    (3, _lone_surrogate),
    (4, _deep),
    (4, _huge_int),
    (5, _unknown_target),
    (2, _message_list),
    (4, _max_tokens),
    (14, _forged_headers),
]


@st.composite
def record_spec(draw: st.DrawFn, ctx: FuzzContext, *, large: bool = True) -> RecordSpec:
    """One record spec, valid about 40 % of the time. ``large=False`` leaves out the ~1 MB records."""
    kinds = [k for w, k in _KINDS for _ in range(w) if large or k not in (_oversized, _message_list)]
    return draw(draw(st.sampled_from(kinds))(ctx))


def fuzz_records(ctx: FuzzContext, *, prefix: str, large: bool = True) -> st.SearchStrategy[FuzzRecord]:
    """Records with request ids ``{prefix}-{n}`` unique within the strategy's run."""
    counter = iter(range(10**9))
    return record_spec(ctx, large=large).map(lambda spec: spec.build(f"{prefix}-{next(counter)}", ctx))


def generate_records(n: int, ctx: FuzzContext, *, prefix: str, seed_: int = 13, large: bool = True) -> list[FuzzRecord]:
    """``n`` records drawn by hypothesis (generation phase only, seeded, no example database): the benchmark's
    way to get thousands of cases without running a property test per record against a worker."""
    specs: list[RecordSpec] = []
    round_ = 0
    while len(specs) < n:

        @settings(
            max_examples=n - len(specs),
            database=None,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @seed(seed_ + round_)
        @given(st.data())
        def draw(data: st.DataObject) -> None:
            specs.append(data.draw(record_spec(ctx, large=large)))

        draw()
        round_ += 1
    return [spec.build(f"{prefix}-{i}", ctx) for i, spec in enumerate(specs[:n])]
