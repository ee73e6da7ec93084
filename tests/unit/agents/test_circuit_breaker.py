from agents.circuit_breaker import CircuitBreaker, CircuitState, Transition
from agents.health_board import HealthBoard
from infra.circuit_store import SharedCircuit
from schemas.config import BreakerSettings, HealthSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, **kw: float) -> CircuitBreaker:
    defaults = {"window": 10, "min_calls": 4, "failure_rate": 0.5, "consecutive_failures": 3, "open_s": 5.0}
    settings = BreakerSettings.model_validate({**defaults, **kw})
    return CircuitBreaker("b", settings, clock)


def test_consecutive_failures_open_the_circuit() -> None:
    clock = Clock()
    br = _breaker(clock)
    assert br.record_failure() is None and br.record_failure() is None
    t = br.record_failure("503")
    assert t is not None and (t.old, t.new) == (CircuitState.CLOSED, CircuitState.OPEN)
    assert "3 consecutive failures" in t.reason and t.open_until == 1005.0
    assert not br.allow()
    assert br.available_in() == 5.0


def test_failure_rate_opens_even_without_a_streak() -> None:
    br = _breaker(Clock(), consecutive_failures=100)
    outcomes = [True, True, False, True, False, False]  # 3/6 failed, the rate reaches 50 % only at the end
    transitions = [br.record_success() if ok else br.record_failure() for ok in outcomes]
    assert transitions[-1] is not None and transitions[-1].new is CircuitState.OPEN
    assert all(t is None for t in transitions[:-1])
    assert "failure rate 50%" in transitions[-1].reason


def test_below_min_calls_the_rate_does_not_count() -> None:
    br = _breaker(Clock(), consecutive_failures=100, min_calls=4)
    assert br.record_failure() is None and br.record_success() is None and br.record_failure() is None
    assert br.state is CircuitState.CLOSED


def test_half_open_allows_limited_trials_then_closes_on_success() -> None:
    clock = Clock()
    br = _breaker(clock)
    for _ in range(3):
        br.record_failure()
    clock.now += 5.0
    assert br.state is CircuitState.HALF_OPEN
    assert br.allow() and not br.allow()  # one trial at a time
    t = br.record_success()
    assert t is not None and t.new is CircuitState.CLOSED
    assert br.allow() and br.failure_rate == 0.0


def test_half_open_failure_reopens() -> None:
    clock = Clock()
    br = _breaker(clock)
    for _ in range(3):
        br.record_failure()
    clock.now += 6
    assert br.allow()
    t = br.record_failure("still down")
    assert t is not None and t.new is CircuitState.OPEN and t.open_until == clock.now + 5


def test_forced_states() -> None:
    clock = Clock()
    br = _breaker(clock)
    assert br.force_closed("x") is None
    t = br.force_open("probe failed", until=clock.now + 30)
    assert t is not None and br.available_in() == 30
    assert br.force_open("again", until=clock.now + 10) is None and br.available_in() == 30  # extends, never shortens
    assert br.force_closed("probe ok") is not None and br.state is CircuitState.CLOSED


def test_board_shares_newer_decisions_only() -> None:
    clock = Clock()
    board = HealthBoard(["a", "b"], HealthSettings(), clock)
    t = board.apply_shared(
        "a", SharedCircuit("open", at=clock.now + 1, open_until=clock.now + 20, reason="w2 saw 503s")
    )
    assert t is not None and board.state("a") is CircuitState.OPEN and not board.allow("a")
    # an older record does not undo it
    assert board.apply_shared("a", SharedCircuit("closed", at=clock.now - 5)) is None
    assert board.state("a") is CircuitState.OPEN
    # a newer close (a probe on another worker) does
    clock.now += 2
    assert board.apply_shared("a", SharedCircuit("closed", at=clock.now, reason="probe ok")) is not None
    assert board.allow("a") and board.allow("b")


def test_board_probe_schedule_and_results() -> None:
    clock = Clock()
    settings = HealthSettings(probe_interval_s=2, healthy_probe_interval_s=0)
    board = HealthBoard(["a"], settings, clock)
    assert not board.probe_due("a")  # closed and healthy probes disabled
    board.status["a"].breaker.force_open("x")
    assert not board.probe_due("a")  # the first probe comes one interval after start
    clock.now += 2
    assert board.probe_due("a")
    assert board.probe_result("a", False, "503") is None  # still open, open_until extended
    assert not board.probe_due("a")
    clock.now += 2
    assert board.probe_due("a")
    t = board.probe_result("a", True, "")
    assert t is not None and t.new is CircuitState.CLOSED
    ev = board.event("a")
    assert (ev.state, ev.circuit) == ("healthy", "closed")


def test_board_tracks_latency_and_in_flight() -> None:
    board = HealthBoard(["a"], HealthSettings(), Clock())
    board.begin("a")
    board.begin("a")
    assert board.event("a").in_flight == 2
    board.end("a", ok=True, latency_ms=100)
    board.end("a", ok=True, latency_ms=200)
    ev = board.event("a")
    assert ev.in_flight == 0 and ev.latency_ewma_ms == 120.0
    board.begin("a")
    assert board.end("a", ok=None, latency_ms=5) is None  # a 400 says nothing about health
    assert board.event("a").error_rate == 0.0


def test_a_success_resets_the_failure_streak() -> None:
    br = _breaker(Clock(), min_calls=100)  # the rate rule stays out of it: only the streak can open
    outcomes = [False, False, True, False, False]
    assert all((br.record_success() if ok else br.record_failure()) is None for ok in outcomes)
    assert br.state is CircuitState.CLOSED
    t = br.record_failure("503")  # now three in a row
    assert t is not None and t.new is CircuitState.OPEN and "3 consecutive failures" in t.reason


def test_a_fresh_breaker_is_closed_never_changed_and_allows_calls_now() -> None:
    br = _breaker(Clock())
    assert (br.state, br.changed_at, br.open_until) == (CircuitState.CLOSED, 0.0, None)  # 0: never changed
    assert br.available_in() == 0.0 and br.allow()


def test_transitions_name_the_backend_the_time_and_why() -> None:
    """Transitions are published (health topic, shared store): backend, time, reason and deadline are exact."""
    clock = Clock()
    br = _breaker(clock)
    br.record_failure()
    br.record_failure()
    assert br.record_failure() == Transition(
        "b", CircuitState.CLOSED, CircuitState.OPEN, "3 consecutive failures, last: call failed", 1000.0, 1005.0
    )
    clock.now = 1005.0
    assert br.allow()
    assert br.record_failure("timeout") == Transition(
        "b", CircuitState.HALF_OPEN, CircuitState.OPEN, "trial call failed: timeout", 1005.0, 1010.0
    )
    clock.now = 1010.0
    assert br.allow()
    assert br.record_success() == Transition(
        "b", CircuitState.HALF_OPEN, CircuitState.CLOSED, "trial call succeeded", 1010.0, None
    )
    clock.now = 1011.0
    assert br.force_open("probe failed", until=1040.0) == Transition(
        "b", CircuitState.CLOSED, CircuitState.OPEN, "probe failed", 1011.0, 1040.0
    )
    clock.now = 1012.0
    assert br.force_closed("probe ok") == Transition(
        "b", CircuitState.OPEN, CircuitState.CLOSED, "probe ok", 1012.0, None
    )
    assert (br.changed_at, br.open_until) == (1012.0, None)


def test_the_failure_rate_counts_from_exactly_min_calls() -> None:
    br = _breaker(Clock(), consecutive_failures=100, min_calls=4, failure_rate=0.5)
    assert [br.record_success(), br.record_failure(), br.record_success()] == [None, None, None]
    t = br.record_failure()  # the 4th call: 2/4 failed
    assert t is not None and t.new is CircuitState.OPEN and t.reason == "failure rate 50% over 4 calls"


def test_the_window_slides_old_outcomes_out() -> None:
    br = _breaker(Clock(), window=4, min_calls=4, consecutive_failures=100, failure_rate=0.5)
    for _ in range(4):
        br.record_success()
    assert br.record_failure() is None  # window [ok, ok, ok, fail]
    assert br.failure_rate == 0.25
    t = br.record_failure()  # [ok, ok, fail, fail]: 2/4, though only 2 of all 6 calls failed
    assert t is not None and t.new is CircuitState.OPEN and br.failure_rate == 0.5


def test_half_open_allows_exactly_half_open_max_calls_trials() -> None:
    clock = Clock()
    br = _breaker(clock, half_open_max_calls=3)
    br.force_open("x", until=clock.now + 1)
    assert not br.allow()
    clock.now += 1
    assert [br.allow() for _ in range(5)] == [True, True, True, False, False]


def test_available_in_counts_down_to_the_reopening() -> None:
    clock = Clock()
    br = _breaker(clock)
    br.force_open("x", until=clock.now + 2.0)
    clock.now += 1.5
    assert br.available_in() == 0.5
    clock.now += 0.5
    assert br.state is CircuitState.HALF_OPEN and br.available_in() == 0.0


def test_a_forced_close_restarts_the_failure_streak() -> None:
    clock = Clock()
    br = _breaker(clock, min_calls=100)  # only the streak (3) can open
    for _ in range(3):
        br.record_failure()
    assert br.force_closed("probe ok") is not None
    assert br.record_failure() is None and br.record_failure() is None  # two, not 3 + 2
    assert br.state is CircuitState.CLOSED
    assert br.record_failure() is not None


def test_a_trip_opens_at_once_and_only_reports_the_first_time() -> None:
    """Refused credentials prove the backend unusable: no need to wait for five failures in a row."""
    clock = Clock()
    br = _breaker(clock)
    t = br.trip("credentials rejected (401)")
    assert t is not None and (t.old, t.new, t.reason, t.open_until) == (
        CircuitState.CLOSED,
        CircuitState.OPEN,
        "credentials rejected (401)",
        1005.0,
    )
    clock.now = 1003.0
    assert br.trip("credentials rejected (401)") is None  # already open: extended, not announced again
    assert br.available_in() == 5.0
    clock.now = 1008.0
    assert br.allow()  # half-open trial
    again = br.trip("credentials rejected (401)")
    assert again is not None and (again.old, again.new) == (CircuitState.HALF_OPEN, CircuitState.OPEN)


def test_a_trip_counts_as_a_failed_call_in_the_reported_failure_rate() -> None:
    """The health board reports ``failure_rate``: a refused call is a failed call there too."""
    br = _breaker(Clock())
    for _ in range(3):
        br.record_success()
    br.trip("credentials rejected (401)")
    assert br.failure_rate == 0.25


def test_board_trips_on_a_refused_call_and_on_a_refused_probe() -> None:
    clock = Clock()
    board = HealthBoard(["a", "b"], HealthSettings(), clock)
    board.begin("a")
    t = board.end("a", ok=False, latency_ms=3.0, reason="credentials rejected (401)", trip=True)
    assert t is not None and t.new is CircuitState.OPEN and board.status["a"].in_flight == 0
    p = board.probe_result("b", False, "credentials rejected (401)", trip=True)
    assert (
        p is not None and p.new is CircuitState.OPEN and p.reason == "health probe failed: credentials rejected (401)"
    )
