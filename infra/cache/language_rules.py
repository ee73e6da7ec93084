"""Rules of language that veto a cached answer, whatever the embedders say (issue 14.2).

Two prompts whose answers must differ often differ in one closed-class item that embeddings barely see:
  * numbers, digits or number words in en/es/de/fr/zh ("5 km" vs "50 km", "twelve times fifteen" vs "12 x 16"),
  * units and currencies, as a set and by direction of conversion ("100 USD in EUR" vs "100 EUR in USD"),
  * language names and translation direction ("into French" vs "into English"),
  * negation ("with" vs "without", 能 vs 不能).
Only closed classes of the languages live here (numerals, units, language names, negation cues and the few zh
words that contain a numeral or negation character without being one): no entities, no antonyms, nothing taken
from an evaluation set. A veto means "plain miss"; everything open-class is left to the learned decision.

Written-out 0 and 1 are not counted (articles "a/un/ein/一个" and idioms "from zero/desde cero/零基础" are far
more common than quantities), nor are digit 1s, so "one plus one" and "1 + 1" agree."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from infra.cache.text_features import TEXT_MEMO_SIZE, detect_language

__all__ = ["Analysis", "analyse", "negation_differs", "veto"]


# --- number words (folded) -------------------------------------------------------------------------------------
def _numerals(counting: str, more: str) -> dict[str, int]:
    """``counting`` lists the words for 0, 1, 2, ... in order; ``more`` is "word:value" pairs."""
    table = {w: i for i, w in enumerate(counting.split())}
    return table | {w: int(v) for w, v in (pair.split(":") for pair in more.split())}


_SMALL: dict[str, dict[str, int]] = {
    "en": _numerals(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen",
        "twenty:20 thirty:30 forty:40 fifty:50 sixty:60 seventy:70 eighty:80 ninety:90",
    ),
    "es": _numerals(
        "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
        "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco "
        "veintiséis veintisiete veintiocho veintinueve",
        "treinta:30 cuarenta:40 cincuenta:50 sesenta:60 setenta:70 ochenta:80 noventa:90 cien:100 doscientos:200 "
        "trescientos:300 cuatrocientos:400 quinientos:500 seiscientos:600 setecientos:700 ochocientos:800 "
        "novecientos:900",
    ),
    "de": _numerals(
        "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn "
        "sechzehn siebzehn achtzehn neunzehn",
        "ein:1 sieb:7 zwanzig:20 dreißig:30 vierzig:40 fünfzig:50 sechzig:60 siebzig:70 achtzig:80 neunzig:90",
    ),
    "fr": _numerals(
        "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize",
        "une:1 vingt:20 vingts:20 trente:30 quarante:40 cinquante:50 soixante:60",
    ),
}
_SCALES: dict[str, dict[str, int]] = {
    "en": {"hundred": 100, "thousand": 1000, "million": 10**6, "millions": 10**6, "billion": 10**9},
    "es": {"ciento": 100, "cientos": 100, "mil": 1000, "millón": 10**6, "millones": 10**6},
    "de": {"hundert": 100, "tausend": 1000, "million": 10**6, "millionen": 10**6, "milliarde": 10**9},
    "fr": {"cent": 100, "cents": 100, "mille": 1000, "million": 10**6, "millions": 10**6, "milliard": 10**9},
}
_JOINERS = frozenset({"and", "y", "und", "et"})
_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10**4, "亿": 10**8}
_ZH_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]+")
# zh words that contain a numeral character without stating a quantity (closed: lexicalised compounds)
_ZH_NOT_NUMBERS = (
    "一些 一样 一起 一直 一般 一定 一下 一切 一旦 一点 统一 唯一 万一 千万 十分 百科 百度 三明治 一致 一边 "
    "不一 一会 一向 一再 一共 一律 一同 万维网 二手 七嘴八舌 乱七八糟 百分之"
).split()

# --- units and currencies: canonical id -> folded forms ---------------------------------------------------------
# Latin forms match anywhere as whole words; "attached" forms (short or ambiguous: "m", "f", 日, 米, 元, "livres")
# only right after a number (or, for zh, after 多少/几).
_UNITS: dict[str, str] = {
    "km": "km kilometer kilometers kilometre kilometres kilómetro kilómetros kilometro kilometros kilomètre "
    "kilomètres kilometern 公里 千米",
    "mile": "mile miles milla millas meile meilen 英里",
    "meter": "meter meters metre metres metro metros mètre mètres 公尺",
    "foot": "foot feet ft pies fuß pied pieds 英尺",
    "inch": "inch inches pulgada pulgadas zoll pouce pouces 英寸",
    "kg": "kg kilogram kilograms kilogramo kilogramos kilogramm kilogramme kilogrammes kilo kilos 公斤 千克",
    "gram": "gram grams gramo gramos gramm gramme grammes",
    # "pound" is a weight and a currency in en/es/de/fr alike: one id, the other unit of the pair tells which
    "pound": "lb lbs pound pounds libra libras pfund 磅 £ gbp sterling 英镑",
    "liter": "liter liters litre litres litro litros 公升",
    "gallon": "gallon gallons galón galones gallone gallonen 加仑",
    "celsius": "celsius °c 摄氏",
    "fahrenheit": "fahrenheit °f 华氏",
    "second": "seconds segundos sekunden secondes 秒钟",
    "minute": "minute minutes minuto minutos minuten 分钟",
    "hour": "hour hours hora horas stunde stunden heure heures 小时 钟头",
    "day": "day days día días dia dias tag tage tagen jour jours 天数",
    "week": "week weeks semana semanas woche wochen semaine semaines 星期 礼拜",
    "month": "month months mes meses monat monate monaten mois 个月",
    "year": "year years año años jahr jahre jahren année années",
    "usd": "$ usd dollar dollars dólar dólares 美元 美金",
    "eur": "€ eur euro euros 欧元",
    "jpy": "jpy yen 日元",
    "cny": "cny rmb yuan 人民币",
    "percent": "% percent pourcent prozent 百分之",
}
_ATTACHED: dict[str, str] = {
    "meter": "m 米",
    "kg": "公斤",
    "gram": "g 克",
    "pound": "livre livres",
    "liter": "l 升",
    "celsius": "c 度",
    "fahrenheit": "f",
    "second": "s 秒",
    "minute": "min 分",
    "hour": "h 时",
    "day": "日 天",
    "week": "周",
    "month": "月",
    "year": "an ans 年 岁",
    "cny": "元 块",
}
_MULTIWORD_UNITS = {"per cent": "percent", "por ciento": "percent", "pour cent": "percent"}
_DEGREE_WORDS = frozenset({"degree", "degrees", "grado", "grados", "grad", "degré", "degrés"})

# --- natural languages (closed class) -------------------------------------------------------------------------
_LANGUAGES: dict[str, str] = {
    "english": "english inglés ingles englisch englische englischen anglais 英语 英文",
    "french": "french francés frances französisch französische französischen français francais 法语 法文",
    "german": "german alemán aleman deutsch deutsche deutschen allemand 德语 德文",
    "spanish": "spanish español espanol spanisch spanische spanischen espagnol 西班牙语 西班牙文",
    "chinese": "chinese mandarin chino chinesisch chinesische chinesischen chinois 中文 汉语 普通话",
    "japanese": "japanese japonés japones japanisch japanische japanischen japonais 日语 日文",
    "korean": "korean coreano koreanisch koreanische koreanischen coréen 韩语 韩文 朝鲜语",
    "italian": "italian italiano italienisch italienische italienischen 意大利语",
    "portuguese": "portuguese portugués portugues portugiesisch portugiesische portugais 葡萄牙语",
    "russian": "russian ruso russisch russische russischen russe 俄语 俄文",
    "arabic": "arabic árabe arabe arabisch arabische 阿拉伯语",
    "dutch": "dutch holandés neerlandés niederländisch néerlandais 荷兰语",
    "hindi": "hindi 印地语",
}
# a language name or unit right after one of these is the target of a translation / conversion
_TARGET_MARKERS = frozenset(
    [
        *"to into in a al en ins nach zu auf vers 成 为 兑 对 到 换 多少 几".split(),
        *["how many", "how much", "wie viele", "wie viel", "combien de", "cuántos", "cuántas", "cuantos", "cuantas"],
    ]
)
_SOURCE_MARKERS = frozenset("from desde aus vom 从 由".split())

# --- negation cues (folded); zh single characters match inside words -------------------------------------------
_NEGATIONS = frozenset(
    "not n't never without no none nobody nothing neither nor cannot "
    "nunca sin ningún ninguna ninguno tampoco nada nadie "
    "nicht kein keine keinen keinem keiner nie niemals ohne nichts "
    "ne n' pas jamais sans aucun aucune rien personne".split()
)
_ZH_NEGATIONS = "不没沒无無别未非勿"
# zh words with a negation character that negate nothing, incl. A-not-A questions (是不是 = "is it?")
_ZH_NOT_NEGATIONS = (
    "不同 不错 不仅 不过 无论 别人 别的 差不多 未来 无线 区别 特别 分别 类别 性别 级别 告别 不断 非常 并非 "
    "是不是 能不能 可不可以 会不会 要不要 对不对 好不好 有没有 行不行 是否 不得不 无限 非洲 识别 鉴别 辨别"
).split()

_CJK = "\u3400-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"\d+(?:[.,]\d+)*|°[cf]|[%$€£¥]|n't|n'|[{_CJK}]+|(?:(?![{_CJK}])[^\W\d_])+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _forms(table: dict[str, str]) -> dict[str, str]:
    return {form: canon for canon, forms in table.items() for form in forms.split()}


_UNIT_FORMS = _forms(_UNITS)
_ATTACHED_FORMS = _forms(_ATTACHED)
_LANGUAGE_FORMS = _forms(_LANGUAGES)
_ZH_WORDS = sorted(
    [f for f in (*_UNIT_FORMS, *_ATTACHED_FORMS, *_LANGUAGE_FORMS) if re.match(f"[{_CJK}]", f)], key=len, reverse=True
)


@dataclass(frozen=True)
class Analysis:
    """What the rules read in one prompt: numbers (sorted), units and language names with their role
    (``src``: attached to a number or after "from"; ``tgt``: after "to/into/in/how many/成"; ``""``: neither)."""

    numbers: tuple[str, ...]
    units: tuple[tuple[str, str], ...]
    languages: tuple[tuple[str, str], ...]
    negated: bool


def _canon_number(raw: str) -> str | None:
    groups = re.split(r"[.,]", raw)
    text = "".join(groups) if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]) else raw.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return None if value == 1 else format(value.normalize(), "f")


def _zh_number(run: str) -> int:
    """一百零五 -> 105, 三万 -> 30000, 十五 -> 15."""
    total, section, digit = 0, 0, 0
    for ch in run:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            section += (digit or 1) * _ZH_UNITS[ch]
            digit = 0
        else:  # 万, 亿
            total += (section + digit or 1) * _ZH_BIG[ch]
            section, digit = 0, 0
    return total + section + digit


# --- tokens: ("num", canonical value or None) | ("w", folded word or zh piece) ----------------------------------
_ZH_MARKERS = "多少 几 成 为 兑 对 到 换 从 由".split()


def _alternation(words: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


_ZH_WORD = _alternation([*_ZH_WORDS, *_ZH_MARKERS])
_ZH_LONG_WORD = _alternation([w for w in _ZH_WORDS if len(w) > 1])
_ZH_SKIP = _alternation(_ZH_NOT_NUMBERS)


def _zh_pieces(run: str) -> list[tuple[str, str | None]]:
    """A run of CJK characters as known words (units, language names, markers), numbers and the rest."""
    out: list[tuple[str, str | None]] = []
    i, rest = 0, ""
    while i < len(run):
        word = _ZH_WORD.match(run, i)
        skip = None if word else _ZH_SKIP.match(run, i)
        if skip and _ZH_LONG_WORD.match(run, skip.end() - 1):
            skip = None  # 十分钟 is ten minutes (分钟), not 十分 "very"
        numeral = None if word or skip else _ZH_NUMERAL.match(run, i)
        found = word or numeral
        if found:
            if rest:
                out.append(("w", rest))
                rest = ""
            out.append(("w", found.group(0)) if word else ("num", _word_value(_zh_number(found.group(0)))))
            i = found.end()
        else:
            end = skip.end() if skip else i + 1
            rest += run[i:end]
            i = end
    return [*out, ("w", rest)] if rest else out


def _word_value(value: int) -> str | None:
    """Written-out 0 and 1 are idioms and articles as often as quantities: not counted."""
    return None if value in (0, 1) else str(value)


def _de_pattern(small: dict[str, int]) -> re.Pattern[str]:
    units = "|".join(sorted((w for w, v in small.items() if 0 < v < 10), key=len, reverse=True))
    body = "|".join(sorted(small, key=len, reverse=True))
    return re.compile(rf"(?:({units})?tausend)?(?:({units})?hundert)?(?:({units})und)?({body})?")


_DE_COMPOUND = _de_pattern(_SMALL["de"])


def _de_compound(word: str, small: dict[str, int]) -> int | None:
    """German writes numbers as one word: einundzwanzig, dreihundertfünf, zweitausend."""
    m = _DE_COMPOUND.fullmatch(word)
    if not m or (not any(m.groups()) and word not in ("tausend", "hundert")):
        return None
    thousands, hundreds, ones, rest = m.groups()
    value = (small.get(thousands or "", 1) * 1000 if "tausend" in word else 0) + (
        small.get(hundreds or "", 1) * 100 if "hundert" in word else 0
    )
    return value + (small[ones] if ones else 0) + (small[rest] if rest else 0)


@lru_cache(maxsize=8)
def _tables(lang: str) -> tuple[dict[str, int], dict[str, int]]:
    """(number words, scale words) of a language; of all four when the language is unknown."""
    if lang in _SMALL:
        return _SMALL[lang], _SCALES[lang]
    small: dict[str, int] = {}
    scales: dict[str, int] = {}
    for code in ("en", "es", "de", "fr"):
        small.update({w: v for w, v in _SMALL[code].items() if w not in small})
        scales.update({w: v for w, v in _SCALES[code].items() if w not in scales})
    return small, scales


def _join_words(tokens: list[tuple[str, str | None]], lang: str) -> list[tuple[str, str | None]]:
    """Runs of number words (and joiners between them) become one number: "twenty five", "vingt et un"."""
    small, scales = _tables(lang)
    out: list[tuple[str, str | None]] = []
    current: int | None = None
    for i, (kind, text) in enumerate(tokens):
        value = None
        if kind == "w" and text:
            value = small.get(text, scales.get(text))
            if value is None and lang in ("de", "und"):
                value = _de_compound(text, _SMALL["de"])
        if value is None:
            nxt = tokens[i + 1][1] if i + 1 < len(tokens) else None
            if current is not None and text in _JOINERS and nxt is not None and nxt in small:
                continue
            if current is not None:
                out.append(("num", _word_value(current)))
                current = None
            out.append((kind, text))
            continue
        current = _accumulate(current, value, text in scales, text or "", out)
    if current is not None:
        out.append(("num", _word_value(current)))
    return out


def _accumulate(current: int | None, value: int, scale: bool, word: str, out: list[tuple[str, str | None]]) -> int:
    """Add a number word to the number being read, or close that number and start a new one."""
    if current is None:
        return value
    low = current % 100
    if scale:
        return current - low + (low or 1) * value if value == 100 else (current or 1) * value
    if word in ("vingt", "vingts") and low == 4:
        return current - 4 + 80  # quatre-vingt(s)
    if low == 0 or (low % 10 == 0 and value < 10) or (low in (60, 80) and value < 20):
        return current + value
    out.append(("num", _word_value(current)))
    return value


def _tokens(text: str, lang: str) -> list[tuple[str, str | None]]:
    tokens: list[tuple[str, str | None]] = []
    previous = ""
    for raw in _TOKEN.findall(text):
        if raw[0].isdigit():
            tokens.append(("num", _canon_number(raw)))
        elif re.match(f"[{_CJK}]", raw):
            if previous[:1].isdigit() and raw[0] in _ZH_BIG and (value := _canon_number(previous)) is not None:
                tokens[-1] = ("num", _canon_number(str(Decimal(value) * _ZH_BIG[raw[0]])))  # 3万 = 30000
                raw = raw[1:]
            tokens.extend(_zh_pieces(raw))
        else:
            tokens.append(("w", raw))
        previous = raw
    return _join_words(tokens, lang)


def _role(tokens: list[tuple[str, str | None]], i: int) -> str:
    """``src`` after a number (a degree word may sit between) or "from"; ``tgt`` after "to/into/how many/成"."""
    prev = [t for _, t in tokens[max(0, i - 2) : i]]
    kinds = [k for k, _ in tokens[max(0, i - 2) : i]]
    if (kinds and kinds[-1] == "num") or (len(kinds) == 2 and kinds[0] == "num" and prev[1] in _DEGREE_WORDS):
        return "src"
    if tokens[i][1] in ("$", "€", "£") and i + 1 < len(tokens) and tokens[i + 1][0] == "num":
        return "src"  # $80
    if prev and (prev[-1] in _TARGET_MARKERS or " ".join(t or "" for t in prev) in _TARGET_MARKERS):
        return "tgt"
    return "src" if prev and prev[-1] in _SOURCE_MARKERS else ""


def _mentions(tokens: list[tuple[str, str | None]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Units and language names in order, each with its role."""
    units: list[tuple[str, str]] = []
    languages: list[tuple[str, str]] = []
    for i, (kind, text) in enumerate(tokens):
        if kind != "w" or not text:
            continue
        pair = f"{text} {tokens[i + 1][1]}" if i + 1 < len(tokens) else ""
        after_number = i > 0 and (tokens[i - 1][0] == "num" or tokens[i - 1][1] in ("多少", "几"))
        unit = _UNIT_FORMS.get(text) or _MULTIWORD_UNITS.get(pair)
        if unit is None and after_number:
            unit = _ATTACHED_FORMS.get(text)
        if unit:
            units.append((unit, _role(tokens, i)))
        elif text in _LANGUAGE_FORMS:
            languages.append((_LANGUAGE_FORMS[text], _role(tokens, i)))
    return units, languages


def _negated(folded: str) -> bool:
    if re.search(r"n't\b|\bn'", folded) or any(w in _NEGATIONS for w in re.findall(r"[^\W\d_]+", folded)):
        return True
    for word in _ZH_NOT_NEGATIONS:
        folded = folded.replace(word, " ")
    return any(ch in folded for ch in _ZH_NEGATIONS)


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def analyse(text: str) -> Analysis:
    """The closed-class reading of one prompt (memoised: a cached prompt is read once)."""
    folded = _fold(text).replace("’", "'")
    tokens = _tokens(folded, detect_language(text))
    units, languages = _mentions(tokens)
    numbers = tuple(sorted(t for k, t in tokens if k == "num" and t is not None))
    return Analysis(numbers=numbers, units=tuple(units), languages=tuple(languages), negated=_negated(folded))


def _set_conflict(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> bool:
    """Both mention some, and each mentions one the other does not ("3 days" vs "3 weeks")."""
    sa, sb = {x for x, _ in a}, {x for x, _ in b}
    return bool(sa and sb and not (sa <= sb or sb <= sa))


def _direction_conflict(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> str | None:
    """An item that is the source on one side and the target on the other ("USD→EUR" vs "EUR→USD")."""
    ra = {x: r for x, r in reversed(a) if r}
    rb = {x: r for x, r in reversed(b) if r}
    return next((x for x in ra if x in rb and ra[x] != rb[x]), None)


def veto(query: str, candidate: str) -> str | None:
    """Why ``candidate``'s answer cannot be served for ``query`` by a rule of language, or None."""
    a, b = analyse(query), analyse(candidate)
    if Counter(a.numbers) != Counter(b.numbers):
        return f"numbers differ: {list(a.numbers)} vs {list(b.numbers)}"
    if _set_conflict(a.units, b.units):
        return f"units differ: {sorted({u for u, _ in a.units})} vs {sorted({u for u, _ in b.units})}"
    if unit := _direction_conflict(a.units, b.units):
        return f"conversion direction differs ({unit})"
    if {x for x, _ in a.languages} != {x for x, _ in b.languages} and a.languages and b.languages:
        return f"languages differ: {[x for x, _ in a.languages]} vs {[x for x, _ in b.languages]}"
    if lang := _direction_conflict(a.languages, b.languages):
        return f"translation direction differs ({lang})"
    if a.negated != b.negated and not _cross_lingual(query, candidate):
        return "negation differs"
    return None


def negation_differs(query: str, candidate: str) -> bool:
    """Negation cues on one side only, whatever the languages (a feature where it is not a veto)."""
    return analyse(query).negated != analyse(candidate).negated


def _cross_lingual(query: str, candidate: str) -> bool:
    """Languages lexicalise negation differently ("stop procrastinating" / 怎么才能不拖延, "gluten-free" / "sin
    gluten"), so across languages a negation cue on one side only is no evidence: not a veto there."""
    qa, ca = detect_language(query), detect_language(candidate)
    return qa != ca and "und" not in (qa, ca)
