"""API keys are stored as SHA-256 digests only and looked up by the digest of the presented key."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from infra.api_keys import KeyBook, bearer_token, hash_key, load_key_file
from schemas.config import ApiKey, FrontDoorSettings
from schemas.errors import ConfigError


def test_the_digest_is_what_sha256sum_prints() -> None:
    shell = subprocess.run(["sha256sum"], input=b"sk-test-1", capture_output=True, check=True).stdout.split()[0]
    assert hash_key("sk-test-1") == shell.decode() == hashlib.sha256(b"sk-test-1").hexdigest()


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer sk-1", "sk-1"), ("bearer   sk-1 ", "sk-1"), ("Basic abc", None), ("Bearer", None), (None, None)],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_a_key_is_found_by_its_digest_only() -> None:
    entry = ApiKey(name="app", sha256=hash_key("sk-right"), tenant="acme")
    book = KeyBook([entry])
    assert book.find("sk-right") is entry
    assert book.find("sk-wrong") is None and book.find(None) is None and book.find(hash_key("sk-right")) is None


def test_keys_from_a_file_join_those_of_the_config(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"api_keys:\n  - {{name: filed, sha256: {hash_key('sk-file')}, tenant: t2, rpm: 5}}\n")
    settings = FrontDoorSettings(api_keys=[ApiKey(name="inline", sha256=hash_key("sk-cfg"))], api_keys_file=str(path))
    book = KeyBook.from_settings(settings)
    assert len(book) == 2
    found = book.find("sk-file")
    assert found is not None and (found.name, found.tenant, found.rpm) == ("filed", "t2", 5)


def test_a_bad_key_file_is_one_config_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("- {name: x, sha256: not-a-digest}\n")
    with pytest.raises(ConfigError, match=r"keys\.yaml: 0\.sha256"):
        load_key_file(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_key_file(tmp_path / "missing.yaml")


def test_the_same_key_twice_is_refused() -> None:
    digest = hash_key("sk-1")
    with pytest.raises(ConfigError, match="listed twice"):
        KeyBook([ApiKey(name="a", sha256=digest), ApiKey(name="b", sha256=digest)])
