import json

import pytest

from schemas.errors import MessageError, RouterError
from schemas.events import ChatRequest
from schemas.wire import decode_request, encode, headers_dict


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (None, "empty_message"),
        (b"", "empty_message"),
        (b"\x00\xff\xfe", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'"a string"', "invalid_json"),
        (b'{"messages": []}', "schema_invalid"),
        (b'{"messages": [{"role": "wizard", "content": "x"}]}', "schema_invalid"),
        (b'{"schema_version": 2, "messages": [{"role": "user", "content": "x"}]}', "schema_invalid"),
    ],
)
def test_decode_request_errors_have_codes(data: bytes | None, code: str) -> None:
    with pytest.raises(MessageError) as info:
        decode_request(data)
    assert info.value.code == code
    assert isinstance(info.value, RouterError)
    assert not info.value.retriable
    assert str(info.value)


def test_schema_error_keeps_request_id_and_names_the_field() -> None:
    body = json.dumps({"request_id": "abc", "messages": [], "temperature": 9}).encode()
    with pytest.raises(MessageError) as info:
        decode_request(body)
    assert info.value.request_id == "abc"
    assert "messages" in info.value.message and "temperature" in info.value.message


def test_encode_decode_identity() -> None:
    req = ChatRequest(messages=[{"role": "user", "content": "héllo 你好"}])  # type: ignore[list-item]
    assert decode_request(encode(req)) == req
    assert "你好" in encode(req).decode()


def test_headers_dict_accepts_pairs_and_mappings() -> None:
    assert headers_dict([("a", b"1"), ("b", "2")]) == {"a": b"1", "b": b"2"}
    assert headers_dict({"a": b"1"}) == {"a": b"1"}
    assert headers_dict(None) == {}


def test_header_names_are_plain_str() -> None:
    """aiokafka rejects header keys that are not exactly ``str`` (a StrEnum member fails with TypeError)."""
    from schemas.wire import REPLAY_HEADER, RETRY_HEADER, TRACE_HEADERS, Header

    names = [v for k, v in vars(Header).items() if k.isupper()]
    assert len(names) == 11 and all(type(n) is str for n in [*names, RETRY_HEADER, REPLAY_HEADER, *TRACE_HEADERS])
