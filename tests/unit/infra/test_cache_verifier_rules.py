"""The precision stage's rules, table by table: what makes two prompts' answers interchangeable.

The compiled lexicons are module globals built at import; tests of the matching rules rebuild them from the
tables in-process (the ``fresh_entities`` fixture), so that the scanner under test is the one the code builds now
and not a copy made earlier (under mutation testing: by the unmutated parent process)."""

from collections.abc import Iterator

import pytest

from infra.cache import verifier
from infra.cache.lexicon import ENTITIES
from infra.cache.verifier import signature, verify


@pytest.fixture(autouse=True)
def _fresh_signatures() -> Iterator[None]:
    """``signature`` is memoised: clear it so no test reads a signature computed by another (or another lexicon)."""
    signature.cache_clear()
    yield
    signature.cache_clear()


def _scanner(forms: dict[str, str]) -> verifier._Lexicon:
    return verifier._Lexicon(forms)


def _scan(lexicon: verifier._Lexicon, text: str) -> list[str]:
    return lexicon.scan(text, verifier._fold(text))


@pytest.fixture
def fresh_entities(monkeypatch: pytest.MonkeyPatch) -> None:
    """``signature`` with an entity lexicon compiled from ``lexicon.ENTITIES`` by the code under test."""
    monkeypatch.setattr(verifier, "_ENTITIES", _scanner({f: canon for canon, fs in ENTITIES.items() for f in fs}))


# --- entities: canonical across languages and scripts, in order -------------------------------------------------

ENTITY_CASES = [
    ("What is the capital of France?", ("country:france",)),
    ("what is the capital of france", ("country:france",)),  # Latin forms match case-insensitively
    ("法国的首都是哪里？", ("country:france",)),
    ("What category is this?", ()),  # "cat" only as a whole word
    ("Concatenate two strings", ()),
    ("跑5公里要多久？", ("unit:km",)),  # a CJK form matches next to digits and Latin letters
    ("iPhone还是安卓好", ("tech:iphone", "tech:android")),
    ("西班牙语怎么学", ("lang:spanish",)),  # the longer form wins: Spanish, not Spain
    ("西班牙在哪里", ("country:spain",)),
    ("意大利面怎么做", ("food:pasta",)),
    ("猫狗哪个更聪明？", ("animal:cat", "animal:dog")),  # adjacent matches are both kept
    ("英语法语互译", ("lang:english", "lang:french")),
    ("Go入门", ("tech:go",)),  # "=Go" is case-sensitive: the language, not the verb
    ("How to go home", ()),
    ("GO HOME NOW", ()),
    ("Hauptstadt von Italien", ("country:italy",)),  # German "Italien" (capitalised) is the country ...
    ("Traduire en italien", ("lang:italian",)),  # ... French "italien" the language
    ("How to learn JavaScript", ("tech:javascript",)),
    ("C++ or C#?", ("tech:cpp", "tech:csharp")),
    ("New York or Nueva York", ("city:new-york",)),  # consecutive repeats count once
    ("Paris to London to Paris", ("city:paris", "city:london", "city:paris")),
]


@pytest.mark.parametrize(("text", "entities"), ENTITY_CASES)
def test_entities_are_canonical_and_ordered(fresh_entities: None, text: str, entities: tuple[str, ...]) -> None:
    assert signature(text).entities == entities


def test_the_module_lexicon_gives_the_same_entities() -> None:
    for text, entities in ENTITY_CASES:
        assert signature(text).entities == entities, text


def test_longer_forms_win_across_case_sensitive_and_folded_forms() -> None:
    lexicon = _scanner({"java": "tech:java", "=Java EE": "tech:jakarta", "=Go": "tech:go", "go-kart": "kart"})
    assert _scan(lexicon, "Java EE tutorial") == ["tech:jakarta"]
    assert _scan(lexicon, "java ee tutorial") == ["tech:java"]  # the exact form needs its case
    assert _scan(lexicon, "Go-kart racing, not Go") == ["kart", "tech:go"]


def test_a_table_without_case_sensitive_forms_still_matches_its_cjk_forms() -> None:
    lexicon = _scanner({"enable": "on", "启用": "on", "disable": "off"})
    assert _scan(lexicon, "启用 or disable?") == ["on", "off"]


# A form with a CJK character (U+3000-U+9FFF, U+F900-U+FAFF) matches as a substring; others need word boundaries.
@pytest.mark.parametrize(
    ("char", "cjk"),
    [
        ("\u2fff", False),
        ("\u3000", True),
        ("\u9fff", True),
        ("\ua000", False),
        ("\uf8ff", False),
        ("\uf900", True),
        ("\ufaff", True),
        ("\ufb00", False),
    ],
)
def test_cjk_forms_match_inside_latin_text(char: str, cjk: bool) -> None:
    lexicon = _scanner({char: "hit"})
    assert _scan(lexicon, f"x{char}y") == (["hit"] if cjk else [])


# --- numbers: a multiset, separators normalised --------------------------------------------------------------

NUMBER_CASES = [
    ("What is 15% of 200?", ("15", "200")),
    ("Is 1,000,000 a lot?", ("1000000",)),  # thousands separators
    ("Ist 1.000.000 viel?", ("1000000",)),
    ("What is 3.14 squared?", ("3.14",)),  # a decimal point
    ("Was sind 2,5 kg in Pfund?", ("2.5",)),  # a decimal comma
    ("Round 1,5 up", ("1.5",)),
    ("Is 1,2345 small?", ("1.2345",)),  # four digits after the comma: not a thousands group
    ("What is two plus two?", ("2", "2")),
    ("Set up two-factor auth", ()),  # number words only as whole words
    ("A one-time password", ()),
    ("No numbers here", ()),
]


@pytest.mark.parametrize(("text", "numbers"), NUMBER_CASES)
def test_numbers(text: str, numbers: tuple[str, ...]) -> None:
    assert signature(text).numbers == numbers


# --- negation ------------------------------------------------------------------------------------------------

NEGATION_CASES = [
    ("Which foods contain gluten?", False),
    ("Which foods do not contain gluten?", True),
    ("Why don't cats like water?", True),
    ("Take a note about dogs", False),  # cues are whole words: "no" is not in "note"
    ("Nothing compiles", True),
    ("Welche Lebensmittel enthalten kein Gluten?", True),
    ("Des pâtes sans gluten", True),
    ("这两个有什么不同？", False),  # 不同 ("different") is not a negation
    ("我不喜欢咖啡", True),
    ("There is no区别 between them", True),  # dropping 区别 keeps the negation glued to it
]


@pytest.mark.parametrize(("text", "negated"), NEGATION_CASES)
def test_negation(text: str, negated: bool) -> None:
    assert signature(text).negated is negated


# --- verify: each rule and its reason ------------------------------------------------------------------------

SAME = [
    ("Convert 5 km to miles", "5公里等于多少英里"),
    ("Was sind 2,5 kg in Pfund?", "What is 2.5 kg in pounds?"),
    ("Is 1.000.000 a million?", "Is 1,000,000 a million?"),
    ("Is 200 more than 15?", "Is 15 less than 200?"),  # numbers compare as a multiset
    ("How do I enable dark mode?", "Steps to enable dark mode"),  # same concept, same sign
    ("How to learn Spanish", "西班牙语怎么学"),
    ("Why do cats purr?", "猫为什么会发出呼噜声？"),
]
DIFFERENT = [
    ("What is 3.14 squared?", "What is 314 squared?", "numbers differ: ['3.14'] vs ['314']"),
    ("Round 1,5 up", "Round 15 up", "numbers differ: ['1.5'] vs ['15']"),
    ("2 + 2", "2 + 2 + 2", "numbers differ: ['2', '2'] vs ['2', '2', '2']"),
    (
        "Translate from English to French",
        "Translate from French to English",
        "entities differ: ['lang:english', 'lang:french'] vs ['lang:french', 'lang:english']",
    ),
    ("How to learn Spanish", "西班牙怎么样", "entities differ: ['lang:spanish'] vs ['country:spain']"),
    ("Which foods contain gluten?", "Which foods do not contain gluten?", "negation differs"),
    ("How do I enable 2FA?", "How do I disable 2FA?", "opposite meaning (switch)"),
    ("How do I enable 2FA?", "Should I enable or disable 2FA?", "opposite meaning (switch)"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_equivalent_prompts_pass_both_ways(fresh_entities: None, a: str, b: str) -> None:
    assert verify(a, b) == (True, "")
    assert verify(b, a) == (True, "")


@pytest.mark.parametrize(("a", "b", "reason"), DIFFERENT)
def test_near_misses_are_rejected_with_their_reason(fresh_entities: None, a: str, b: str, reason: str) -> None:
    assert verify(a, b) == (False, reason)


def test_a_concept_name_may_contain_a_colon(monkeypatch: pytest.MonkeyPatch) -> None:
    # values are "<concept>:<sign>", as the module builds them from lexicon.POLARITY
    table = {"heat": "temp:water:1", "chill": "temp:water:-1", "warm": "temp:air:1", "cool": "temp:air:-1"}
    monkeypatch.setattr(verifier, "_POLARITY", _scanner(table))
    assert verify("heat the water", "chill the water") == (False, "opposite meaning (temp:water)")
    assert verify("chill the water", "heat the water") == (False, "opposite meaning (temp:water)")
    assert verify("heat the water", "cool the air") == (True, "")
