"""Issue 13's soak: per-text memos of the cache's precision stage (language detection, content words, the
language-rule reading, signatures, IDF tokens) were each 65,536 entries (word IDF: 262,144); a stream of new
prompts filled them for over an hour, ~0.7 MB a minute of RSS at 30 req/s, the whole of the soak's growth. A memo
only pays for prompts read again (cached entries), so each is bounded well below what a warm-up fills."""

from __future__ import annotations

import importlib
import inspect

import pytest

from infra.cache.text_features import TEXT_MEMO_SIZE, WORD_MEMO_SIZE

MODULES = ("text_features", "verifier", "language_rules", "features", "idf", "pair_signals", "lexicon")


def _memos() -> list[tuple[str, object]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(f"infra.cache.{name}")
        for attr, fn in vars(module).items():
            if callable(fn) and hasattr(fn, "cache_info") and inspect.getmodule(fn) is module:
                found.append((f"{name}.{attr}", fn))
    return found


def test_the_memos_are_found() -> None:
    names = {n for n, _ in _memos()}
    assert {"language_rules.analyse", "text_features.detect_language", "idf.idf"} <= names, names


@pytest.mark.parametrize(("name", "fn"), _memos())
def test_every_memo_of_the_precision_stage_is_small(name: str, fn: object) -> None:
    maxsize = fn.cache_parameters()["maxsize"]  # type: ignore[attr-defined]
    assert maxsize is not None and maxsize <= WORD_MEMO_SIZE, name
    if not name.startswith("idf.idf"):
        assert maxsize <= TEXT_MEMO_SIZE, name


def test_a_stream_of_new_prompts_stops_growing_the_memo() -> None:
    from infra.cache.language_rules import analyse

    analyse.cache_clear()
    for i in range(TEXT_MEMO_SIZE + 500):
        analyse(f"question {i}: convert 5 km to miles")
    assert analyse.cache_info().currsize == TEXT_MEMO_SIZE
