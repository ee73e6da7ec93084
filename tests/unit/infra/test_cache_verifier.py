import pytest

from infra.cache.semantic_cache import exact_key, normalise
from infra.cache.verifier import signature, verify
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest


@pytest.fixture(autouse=True)
def _fresh_signatures() -> None:
    """``signature`` is memoised: without this a test could pass on signatures computed by an earlier test
    (or, under mutation testing, by the unmutated code in the parent process)."""
    signature.cache_clear()


SAME = [
    ("How to learn Python", "Python入门方法"),
    ("What is the capital of France?", "法国的首都是哪里？"),
    ("What is the capital of France?", "Quelle est la capitale de la France ?"),
    ("¿Cuál es la capital de España?", "What is the capital of Spain?"),
    ("Wie installiere ich Docker unter Linux?", "How do I install Docker on Linux?"),
    ("I can't log in", "I cannot log in"),
    ("Convert 5 km to miles", "Convert 5 kilometres into miles"),
    ("What is the difference between Python and Go?", "Python和Go有什么区别？"),
    ("Is 1,000 bigger than 999?", "Is 1000 bigger than 999?"),
]
DIFFERENT = [
    ("What is the capital of France?", "德国的首都是哪里？", "entities"),
    ("Translate hello from English to French", "Translate hello from French to English", "entities"),
    ("Which foods contain gluten?", "Which foods do not contain gluten?", "negation"),
    ("Welche Lebensmittel enthalten Gluten?", "Welche Lebensmittel enthalten kein Gluten?", "negation"),
    ("How do I enable two-factor authentication?", "How do I disable two-factor authentication?", "opposite"),
    ("What is 15% of 200?", "What is 15% of 300?", "numbers"),
    ("What is two plus two?", "What is two plus three?", "numbers"),
    ("What is the boiling point of water?", "What is the freezing point of water?", "opposite"),
    ("How to learn JavaScript", "How to learn Java", "entities"),
    ("How long do cats live?", "How long do dogs live?", "entities"),
    ("How to learn Go", "How to learn Python", "entities"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert verify(a, b) == (True, "")
    assert verify(b, a) == (True, "")


@pytest.mark.parametrize(("a", "b", "why"), DIFFERENT)
def test_near_misses_are_rejected_with_a_reason(a: str, b: str, why: str) -> None:
    ok, reason = verify(a, b)
    assert not ok and why in reason


def test_signature_details() -> None:
    sig = signature("Translate 'good morning' from English into 法语 and count to 3")
    assert sig.entities == ("lang:english", "lang:french")
    assert sig.numbers == ("3",)
    assert not sig.negated
    assert not signature("这两个有什么不同？").negated  # 不同 is "different", not a negation
    assert signature("我不喜欢咖啡").negated
    assert signature("How to go home").entities == ()  # the verb is not the language
    assert signature("Go入门").entities == ("tech:go",)


def test_exact_key_normalises_whitespace_and_case_only() -> None:
    def req(text: str, **kw: object) -> ChatRequest:
        return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)  # type: ignore[arg-type]

    base = exact_key(req("How  to learn\nPython "), "m", "t")
    assert base == exact_key(req("how to learn python"), "m", "t")
    assert base != exact_key(req("how to learn python"), "m2", "t")
    assert base != exact_key(req("how to learn python"), "m", "t2")
    assert base != exact_key(req("how to learn python", temperature=0.5), "m", "t")
    assert base != exact_key(req("how to learn python!"), "m", "t")
    assert normalise(" A\tB ") == "a b"


def test_route_overrides_apply() -> None:
    s = CacheSettings(threshold=0.6, routes={"gpt-4o": {"threshold": 0.8, "ttl_s": 5}})  # type: ignore[dict-item]
    assert s.for_model("gpt-4o").threshold == 0.8 and s.for_model("gpt-4o").ttl_s == 5
    assert s.for_model("other").threshold == 0.6
