"""Random request sequences through :class:`CandidateAdmission`'s rate limits on a fake clock, and the two
promises they must keep: no limit's window total goes negative, and within any 60 one-second buckets no limit
counts more than its value plus the one request that filled it. Run against the in-process limiter
(tests/unit/agents/test_limits_hold.py) and against Redis (tests/integration/test_rate_limits_redis.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from hypothesis import strategies as st

from agents.candidate_admission import Admitted, CandidateAdmission
from agents.routing import Candidate
from agents.token_estimate import estimate_request_tokens
from infra.providers.pool import BackendPool
from infra.rate_limits import WINDOW_S, RateLimiter
from schemas.config import BackendConfig, LimitSettings, RateLimit
from schemas.events import ChatMessage, ChatRequest, Usage
from schemas.protocols import ProviderResult

START = 1_000_000.25  # the fake clock's first reading
BACKEND = BackendConfig(name="b", base_url="http://127.0.0.1:9", models=["m"], rpm=60, tpm=1500, max_concurrency=1000)
TENANTS = {"t0": RateLimit(rpm=40, tpm=1000), "t1": RateLimit(tpm=600)}
DEFAULT = RateLimit(rpm=20, tpm=300)  # for "t2", not listed
LIMITS = LimitSettings(tenants=TENANTS, default_tenant=DEFAULT)
CANDIDATE = Candidate("b", "m")


def _limits() -> dict[str, int]:
    found = {"backend:b:rpm": BACKEND.rpm, "backend:b:tpm": BACKEND.tpm}
    for name, limit in [*TENANTS.items(), ("t2", DEFAULT)]:
        found |= {f"tenant:{name}:rpm": limit.rpm, f"tenant:{name}:tpm": limit.tpm}
    return {key: value for key, value in found.items() if value is not None}


LIMIT_OF = _limits()  # every limit key a request of the model counts against, with its value


@dataclass(frozen=True)
class Start:
    """A request of ``tenant`` asking for ``max_tokens``; it will use ``share`` × its estimate."""

    tenant: str
    max_tokens: int
    share: float


@dataclass(frozen=True)
class Finish:
    """The call of the ``index``-th request in flight (modulo their number) ends and its usage is corrected."""

    index: int


@dataclass(frozen=True)
class Advance:
    seconds: float


Op = Start | Finish | Advance


def ops(max_share: float) -> st.SearchStrategy[list[Op]]:
    """Sequences mixing small and huge ``max_tokens`` (far above every limit), calls that end within a second or
    after their bucket left the window, usage below (and, with ``max_share`` > 1, above) the estimate."""
    small, huge = st.integers(1, 400), st.integers(1_000, 1_000_000)
    max_tokens = st.sampled_from([small, small, huge]).flatmap(lambda s: s)
    share = (
        st.floats(0, 1)
        if max_share <= 1
        else st.sampled_from([(0, 1), (1, max_share)]).flatmap(lambda r: st.floats(*r))
    )
    kinds: dict[str, st.SearchStrategy[Op]] = {
        "start": st.builds(Start, st.sampled_from(["t0", "t1", "t2"]), max_tokens, share),
        "finish": st.builds(Finish, st.integers(0, 50)),
        "tick": st.builds(Advance, st.floats(0, 2)),
        "wait": st.builds(Advance, st.integers(1, 90).map(float)),
    }
    op = st.sampled_from(["start", "start", "start", "finish", "finish", "tick", "wait"]).flatmap(lambda k: kinds[k])
    return st.lists(op, min_size=8, max_size=60)


@dataclass
class Call:
    tenant: str
    second: int
    actual: int
    admitted: Admitted = field(repr=False)


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)  # admitted, in admission order
    lowest: dict[str, int] = field(default_factory=dict)  # the lowest window total each limit ever showed


class _OneBackend:
    """The one thing admission reads from its pool (a real pool builds an HTTP client: 50 ms per example)."""

    def config(self, name: str) -> BackendConfig:
        return BACKEND


async def run(limiter: RateLimiter, clock: list[float], sequence: list[Op]) -> Trace:
    """Play ``sequence``; ``clock[0]`` is the limiter's clock."""
    admission = CandidateAdmission(cast(BackendPool, _OneBackend()), limiter=limiter, limits=LIMITS)
    trace, in_flight = Trace(), list[Call]()
    for op in sequence:
        await _play(op, admission, clock, trace, in_flight)
        for key in LIMIT_OF:
            trace.lowest[key] = min(trace.lowest.get(key, 0), await limiter.used(key))
    return trace


async def _play(op: Op, admission: CandidateAdmission, clock: list[float], trace: Trace, flying: list[Call]) -> None:
    if isinstance(op, Advance):
        clock[0] += op.seconds
    elif isinstance(op, Start):
        request = ChatRequest(
            tenant=op.tenant, messages=[ChatMessage(role="user", content="hi")], max_tokens=op.max_tokens
        )
        admitted = await admission.admit(request, CANDIDATE)
        if admitted.refused is None:
            actual = round(estimate_request_tokens(request) * op.share)
            call = Call(op.tenant, int(clock[0]), actual, admitted)
            trace.calls.append(call)
            flying.append(call)
    elif flying:
        call = flying.pop(op.index % len(flying))
        usage = Usage(prompt_tokens=min(call.actual, 5), completion_tokens=max(call.actual - 5, 0))
        await admission.correct_tokens(call.admitted, ProviderResult(content="x", model="m", usage=usage))


def overruns(trace: Trace) -> list[str]:
    """Every window of 60 one-second buckets in which a limit counted more than its value plus the request that
    ended the window (requests counted at the ``actual`` usage they had, corrected or not yet)."""
    found = []
    for key, limit in LIMIT_OF.items():
        scope, name, unit = key.split(":")
        mine = [c for c in trace.calls if scope == "backend" or c.tenant == name]
        amount: Callable[[Call], int] = (lambda c: 1) if unit == "rpm" else (lambda c: c.actual)
        for k, last in enumerate(mine):
            window = [c for c in mine[: k + 1] if c.second > last.second - WINDOW_S]
            total, allowed = sum(map(amount, window)), limit + (0 if unit == "rpm" else amount(last))
            if total > allowed:
                found.append(f"{key}: {total} > {allowed} in the minute ending at second {last.second - int(START)}")
    return found
