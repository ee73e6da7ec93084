"""The console's access: keys by role from a bearer header or the session cookie, never anything else."""

from __future__ import annotations

from infra.api_keys import hash_key
from schemas.config import ConsoleKey, ConsoleRole
from streams.console.auth import COOKIE, ConsoleAuth, cookie_value, session_cookie

ADMIN, VIEWER = "sk-console-admin-0001", "sk-console-viewer-0001"


def _auth() -> ConsoleAuth:
    return ConsoleAuth(
        [
            ConsoleKey(name="ops", sha256=hash_key(ADMIN), role=ConsoleRole.ADMIN),
            ConsoleKey(name="look", sha256=hash_key(VIEWER), role=ConsoleRole.VIEWER),
        ]
    )


def test_a_bearer_key_has_its_role_and_an_unknown_or_missing_key_has_none() -> None:
    auth = _auth()
    assert auth.role_of({"authorization": f"Bearer {ADMIN}"}) is ConsoleRole.ADMIN
    assert auth.role_of({"authorization": f"bearer {VIEWER}"}) is ConsoleRole.VIEWER
    assert auth.role_of({"authorization": "Bearer sk-wrong"}) is None
    assert auth.role_of({"authorization": f"Basic {ADMIN}"}) is None
    assert auth.role_of({}) is None


def test_the_session_cookie_round_trips_any_key_and_is_http_only() -> None:
    key = 'sk;with spaces=and,odd"chars'
    header = session_cookie(key).decode()
    assert header.startswith(f"{COOKIE}=") and "HttpOnly" in header and "SameSite=Strict" in header
    pair = header.split(";", 1)[0]
    assert cookie_value(f"other=1; {pair}", COOKIE) == key
    assert cookie_value("other=1", COOKIE) is None and cookie_value(None, COOKIE) is None
    auth = ConsoleAuth([ConsoleKey(name="k", sha256=hash_key(key), role=ConsoleRole.ADMIN)])
    assert auth.role_of({"cookie": pair}) is ConsoleRole.ADMIN


def test_a_bearer_header_wins_over_the_cookie() -> None:
    pair = session_cookie(ADMIN).decode().split(";", 1)[0]
    assert _auth().role_of({"cookie": pair, "authorization": f"Bearer {VIEWER}"}) is ConsoleRole.VIEWER


def test_may_replay_only_as_admin() -> None:
    assert ConsoleAuth.may_replay(ConsoleRole.ADMIN)
    assert not ConsoleAuth.may_replay(ConsoleRole.VIEWER) and not ConsoleAuth.may_replay(None)
