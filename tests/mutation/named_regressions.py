"""Issue 20: the five hand-made regressions the suite once missed. Apply each named regression, run its guard test, restore the file. Prints FAIL(expected)/PASS(bad)."""

# Run from the repository root: .venv/bin/python tests/mutation/named_regressions.py (infra/bin/mutation.sh runs it too)
import subprocess, sys, pathlib

cases = [
    (
        "aging removed",
        "agents/scheduler.py",
        "return cq.weight * (1.0 + max(now - oldest.arrival, 0.0) / aging)",
        "return cq.weight",
        "tests/unit/test_scheduler.py::test_aging_lets_an_old_low_class_overtake_a_young_high_class",
    ),
    (
        "streak not reset",
        "agents/circuit_breaker.py",
        "        self._window.append(True)\n        self._consecutive = 0\n",
        "        self._window.append(True)\n",
        "tests/unit/test_circuit_breaker.py::test_a_success_resets_the_failure_streak",
    ),
    (
        "6 s window",
        "infra/rate_limits.py",
        "WINDOW_S = 60",
        "WINDOW_S = 6",
        "tests/unit/test_rate_limits.py::test_an_rpm_limit_holds_for_the_whole_minute",
    ),
    (
        "overdue lane capped",
        "agents/scheduler.py",
        "min(self._overdue_tokens + self.settings.overdue_share, 1.0)",
        "min(self._overdue_tokens + self.settings.overdue_share, 0.99)",
        "tests/unit/test_scheduler.py::test_overdue_lane_serves_exactly_its_share",
    ),
]
# precedence swap: move the explicit-model branch before the named-route branch
route_src = pathlib.Path("agents/routing.py").read_text()
a = route_src.index("        if request.route is not None:\n")
b = route_src.index("        if self._explicit_model(request):\n")
c = route_src.index("\n", route_src.index("return self._direct(request.model", b)) + 1
swapped = route_src[:a] + route_src[b:c] + route_src[a:b] + route_src[c:]
cases.append(
    (
        "precedence swapped",
        "agents/routing.py",
        route_src,
        swapped,
        "tests/unit/test_routing_engine.py::test_a_named_route_wins_over_an_explicit_model",
    )
)
for name, path, old, new, test in cases:
    p = pathlib.Path(path)
    orig = p.read_text()
    assert old in orig, name
    p.write_text(orig.replace(old, new, 1))
    try:
        r = subprocess.run(
            [".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", test],
            capture_output=True,
            text=True,
        )
    finally:
        p.write_text(orig)
    print(
        f"{name:22s} -> {'FAILS (caught)' if r.returncode else 'PASSES (NOT caught)'}: {r.stdout.strip().splitlines()[-1]}"
    )
