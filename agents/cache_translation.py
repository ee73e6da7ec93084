"""Answer in the asker's language (issue 14.6): a semantic cache hit whose cached prompt is in another language
than the request's would hand, say, a Chinese speaker an English answer. Such a hit is translated before it is
served, by one short call to the cheapest model the tenant may use, made like any other call (a provider slot in
scheduler order, then one processor round: rate limits, leases, circuit breakers, failover, pricing). The
response says so (``cache_hit: semantic-translated``) and carries that call's usage and cost; the translation
is cached as the answer to the asker's prompt, so a repeat does not pay for it again.

A failed, cut-short or late translation never becomes the user's error: the request is then served as a cache
miss (an ordinary provider call). ``cache.translate_cross_lingual: never`` (per deployment, or per model under
``cache.routes``) serves cross-lingual hits as cached; so does ``cache: only`` (it promises no provider call).
Exact hits are never translated: the same prompt is in the same language."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta

from agents.entitlements import Entitlements
from agents.outcomes import Outcome
from agents.processor import RequestProcessor
from agents.scheduler import Ticket
from agents.slot_gate import QueueDeadlineExpired, SlotGate
from agents.token_estimate import estimate_text_tokens
from infra.cache.semantic_cache import CacheHit, CacheLookup
from infra.cache.text_features import detect_language
from infra.pricing import PriceTable
from schemas.config import CacheSettings, RouterConfig
from schemas.events import CachePolicy, ChatMessage, ChatRequest, ChatResponse, Latency, utcnow

__all__ = [
    "LANGUAGE_NAMES",
    "answer_in_asker_language",
    "translated_response",
    "translation_models",
    "translation_prompt",
    "translation_target",
    "translation_wanted",
]

log = logging.getLogger(__name__)

#: the languages :func:`~infra.cache.text_features.detect_language` tells apart, named for the prompt
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "es": "Spanish", "de": "German", "fr": "French"}
#: headroom for the translation's length: a Chinese rendering of an English answer takes more tokens
_LENGTH_FACTOR = 3
_LENGTH_SLACK = 64
#: past the translation's own deadline (which the call itself keeps), a last guard on the slot wait and round
_GRACE_S = 0.5
#: counters in :attr:`CacheStats.extra` (``SemanticCache.stats``)
TRANSLATED, FAILED = "translated", "translation_failed"


def translation_wanted(hit: CacheHit, request: ChatRequest, settings: CacheSettings) -> bool:
    """Whether a hit may be translated at all: a semantic one, where translation is on, and not for a request
    that forbids provider calls (``cache: only``)."""
    return hit.kind == "semantic" and settings.translate_cross_lingual != "never" and request.cache != CachePolicy.ONLY


def translation_target(cached_prompt: str, prompt: str) -> tuple[str, str] | None:
    """``(source, target)`` languages when an answer to ``cached_prompt`` must be translated for the asker of
    ``prompt``: both languages known and different. An unknown language is left alone: a guess could translate a
    right answer into a wrong language."""
    source, target = detect_language(cached_prompt), detect_language(prompt)
    if source == target or "und" in (source, target) or target not in LANGUAGE_NAMES:
        return None
    return source, target


def translation_models(config: RouterConfig, prices: PriceTable, entitlements: Entitlements, tenant: str) -> list[str]:
    """The models a translation may go to, cheapest first: those the config names and some backend serves (a
    backend serving ``*`` is asked only for models the config names: any other may not exist there) and the
    tenant may use. Ranked by input + output price (a translation reads about as much as it writes); unpriced
    models last, in config order."""
    aliases = config.model_aliases
    named = [m for b in config.backends for m in b.models if m != "*"]
    named += [t.model for r in config.routes for t in r.targets] + [config.default_model]
    usable: dict[str, None] = {}
    for model in (aliases.get(m, m) for m in named):
        if any(b.serves(model) for b in config.backends) and entitlements.may_use_model(tenant, model):
            usable.setdefault(model, None)

    def rank(model: str) -> float:
        price = prices.price(model)
        return math.inf if price is None else price.input_per_mtok + price.output_per_mtok

    return sorted(usable, key=rank)  # stable: ties and unpriced models keep config order


def translation_prompt(text: str, target: str) -> str:
    """One user message holding the instruction, the target language and the text: providers without a system
    role read it the same, and a test against the fake provider (which echoes the last user message) sees it."""
    name = LANGUAGE_NAMES[target]
    return (
        f"Translate the text below into {name} ({target}). Keep code, numbers, names and formatting unchanged. "
        f"Reply with the translation only.\n\n{text}"
    )


def _translation_request(
    request: ChatRequest, cached: ChatResponse, target: str, model: str, timeout_s: float, cap: int | None
) -> ChatRequest:
    """The short call: the tenant's and priority's own (limits and fairness count it), temperature 0, room for a
    longer rendering (``max_tokens`` within the model's cap), and a deadline ``timeout_s`` from now."""
    text = cached.content or ""
    tokens = cached.usage.completion_tokens or estimate_text_tokens(text)
    max_tokens = tokens * _LENGTH_FACTOR + _LENGTH_SLACK
    deadline = utcnow() + timedelta(seconds=timeout_s)
    if request.deadline is not None:
        deadline = min(deadline, request.deadline)
    return ChatRequest(
        request_id=f"{request.request_id[:120]}.tr",
        tenant=request.tenant,
        priority=request.priority,
        messages=[ChatMessage(role="user", content=translation_prompt(text, target))],
        model=model,
        max_tokens=min(max_tokens, cap) if cap else max_tokens,
        temperature=0.0,
        deadline=deadline,
        cache=CachePolicy.BYPASS,
    )


def translated_response(hit: ChatResponse, call: ChatResponse, source: str, target: str) -> ChatResponse:
    """The hit as served: the translation's text, and the translation call's model, usage, cost and attempts
    (what was paid for this response); the hit's similarity and cache time stay."""
    routing = call.routing.model_copy() if call.routing is not None else None
    if routing is not None:
        routing.reason = f"cached answer translated {source}->{target}: {routing.reason}"
    latency = Latency(
        queue_ms=hit.latency.queue_ms,
        cache_ms=hit.latency.cache_ms,
        provider_ms=call.latency.provider_ms,
        capacity_wait_ms=call.latency.capacity_wait_ms,
        slot_wait_ms=call.latency.slot_wait_ms,
        total_ms=hit.latency.total_ms + call.latency.total_ms + call.latency.slot_wait_ms,
    )
    update = {
        "content": call.content,
        "finish_reason": call.finish_reason,
        "cache_hit": "semantic-translated",
        "model": call.model,
        "backend": call.backend,
        "provider": call.provider,
        "usage": call.usage,
        "cost_usd": call.cost_usd,
        "attempts": call.attempts,
        "routing": routing,
        "latency": latency,
    }
    return hit.model_copy(update=update)


async def _cached_prompt(processor: RequestProcessor, hit: CacheHit) -> str:
    """The prompt the hit was cached for (its language is what the answer is in). The hit does not carry it, so
    it is read back from the store; should that fail, the cached answer's own text stands in for it."""
    text = getattr(hit, "prompt", None)  # a CacheHit that carries its prompt saves the read
    if isinstance(text, str):
        return text
    cache = processor.cache
    try:
        entry = await cache.store.get(hit.entry_id) if cache is not None else None
    except Exception as exc:  # a store error must not fail a request the cache could answer
        log.debug("cached prompt of %s unreadable: %s", hit.entry_id, exc)
        entry = None
    return entry.text if entry is not None else hit.response.content or ""


def _cap(config: RouterConfig, model: str) -> int | None:
    """The model's ``model_caps.max_tokens`` (by name or alias): the translation asks for no more."""
    caps = [
        c.max_tokens
        for name, c in config.model_caps.items()
        if c.max_tokens and config.model_aliases.get(name, name) == model
    ]
    return min(caps) if caps else None


async def _translate(
    processor: RequestProcessor,
    gate: SlotGate,
    request: ChatRequest,
    cached: ChatResponse,
    target: str,
    settings: CacheSettings,
    *,
    cost: float,
) -> ChatResponse | None:
    """The translation call's answer, or ``None`` when there is no model to ask, or the call failed, was cut
    short (``finish_reason: length``: half an answer is worse than a fresh one) or outlasted ``timeout``."""
    router = processor.router
    models = translation_models(router.config, router.prices, router.entitlements, request.tenant)
    left = processor.time_left(request)
    timeout = settings.translate_timeout_s if left is None else min(settings.translate_timeout_s, left)
    if not models or timeout <= 0:
        return None
    call = _translation_request(request, cached, target, models[0], timeout, _cap(router.config, models[0]))
    ticket = Ticket(request.priority, request.tenant, arrival=gate.clock(), cost=cost)
    asked = gate.clock()
    try:
        async with asyncio.timeout(timeout + _GRACE_S), gate.slot(ticket, timeout_s=timeout):
            got = gate.clock()
            outcome = await processor.process(call)
    except (TimeoutError, QueueDeadlineExpired):
        log.info("request %s: translating the cached answer took over %.1fs", request.request_id, timeout)
        return None
    except Exception:  # the cache must never be why a request fails: a fresh answer is still possible
        log.warning("request %s: translating the cached answer raised", request.request_id, exc_info=True)
        return None
    answer = outcome.response
    if outcome.retry is not None or answer is None or answer.status != "ok" or not answer.content:
        why = answer.error.message if answer is not None and answer.error is not None else "no answer this round"
        log.info("request %s: translating the cached answer failed: %s", request.request_id, why)
        return None
    if answer.finish_reason == "length":
        log.info("request %s: the translation of the cached answer was cut short", request.request_id)
        return None
    answer.latency.slot_wait_ms = (got - asked) * 1000
    return answer


def _count(processor: RequestProcessor, key: str) -> None:
    if processor.cache is not None:
        extra = processor.cache.stats.extra
        extra[key] = extra.get(key, 0) + 1


async def answer_in_asker_language(
    outcome: Outcome,
    look: CacheLookup | None,
    request: ChatRequest,
    processor: RequestProcessor,
    gate: SlotGate,
    *,
    cost: float,
) -> Outcome | None:
    """``outcome`` (what the cache lookup produced) as it is to be served: unchanged, translated into the
    asker's language, or ``None``: the translation failed, serve the request as a cache miss."""
    hit = look.hit if look is not None else None
    cache = processor.cache
    if hit is None or look is None or cache is None or outcome.response is None:
        return outcome
    settings = cache.settings.for_model(look.model)
    if not translation_wanted(hit, request, settings):
        return outcome
    langs = translation_target(await _cached_prompt(processor, hit), request.prompt_text())
    if langs is None:
        return outcome
    call = await _translate(processor, gate, request, outcome.response, langs[1], settings, cost=cost)
    _count(processor, FAILED if call is None else TRANSLATED)
    if call is None:
        return None
    served = translated_response(outcome.response, call, *langs)
    await _remember(processor, look, request, served, outcome.response)
    return Outcome(response=served)


async def _remember(
    processor: RequestProcessor, look: CacheLookup, request: ChatRequest, served: ChatResponse, hit: ChatResponse
) -> None:
    """Cache the translation as this prompt's answer, under the model whose answer it renders (the hit's
    ``routing.served``): the next asker in this language gets an exact or same-language hit instead of paying
    for the same translation again (``store_response`` stores only fresh answers, hence the plain copy)."""
    assert processor.cache is not None
    plain = served.model_copy(update={"cache_hit": None, "similarity": None, "routing": hit.routing})
    await processor.cache.store_response(look, request, plain)
