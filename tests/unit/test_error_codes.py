"""Error codes and stages are enums in the code, plain strings on the wire: the JSON is what it always was, and
a code this router does not know (from a newer one) still decodes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.events import Attempt, ChatResponse, ErrorCode, ErrorInfo, FailureEvent, Stage
from schemas.wire import decode, encode

ROOT = Path(__file__).resolve().parents[2]
_CODE_LITERAL = re.compile(r"""\b(?:code|error_code|stage)\s*[:=]\s*(?:str\s*=\s*)?["']([A-Za-z_]+)["']""")


def test_stages_are_the_former_literal_values() -> None:
    assert {s.value for s in Stage} == {"decode", "route", "provider", "deadline", "internal", "retry"}


def test_enum_members_encode_exactly_like_the_plain_strings() -> None:
    common = {"event_id": "e1", "request_id": "r1", "message": "m", "at": "2030-01-01T00:00:00Z"}
    typed = FailureEvent(stage=Stage.PROVIDER, code=ErrorCode.RATE_LIMITED, **common)  # type: ignore[arg-type]
    plain = FailureEvent.model_validate({"stage": "provider", "code": "rate_limited", **common})
    assert encode(typed) == encode(plain)
    assert b'"stage":"provider"' in encode(typed) and b'"code":"rate_limited"' in encode(typed)


def test_a_code_from_a_newer_router_still_decodes() -> None:
    response = ChatResponse(
        request_id="r1",
        status="error",
        error=ErrorInfo(code="quota_exhausted_v9", message="m"),
        attempts=[Attempt(backend="b", model="m", ok=False, error_code="quota_exhausted_v9")],
    )
    back = decode(ChatResponse, encode(response))
    assert back.error is not None and back.error.code == "quota_exhausted_v9"
    assert back.attempts[0].error_code == "quota_exhausted_v9"
    failure = decode(FailureEvent, b'{"stage": "route", "code": "quota_exhausted_v9", "message": "m"}')
    assert (failure.stage, failure.code) == (Stage.ROUTE, "quota_exhausted_v9")


def test_a_known_code_decodes_equal_to_its_member() -> None:
    failure = decode(FailureEvent, b'{"stage": "deadline", "code": "deadline_expired", "message": "m"}')
    assert failure.stage is Stage.DEADLINE and failure.code == ErrorCode.DEADLINE_EXPIRED


def test_an_unknown_stage_is_rejected_as_before() -> None:
    with pytest.raises(ValidationError):
        FailureEvent.model_validate({"stage": "teleport", "code": "x", "message": "m"})


def _literals(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for value in _CODE_LITERAL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_processing_code_names_no_code_or_stage_by_string() -> None:
    assert _literals("agents") == {}


@pytest.mark.parametrize("folder", ["schemas", "infra"])
def test_every_code_written_as_a_string_is_a_known_code(folder: str) -> None:
    known = {c.value for c in ErrorCode} | {s.value for s in Stage}
    unknown = {value: where for value, where in _literals(folder).items() if value not in known}
    assert unknown == {}
