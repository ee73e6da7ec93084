"""Issue 20's five hand-made regressions, each of which the suite once missed.

Applies each regression to the source, runs the test written to catch it, restores the file, and exits
non-zero if any regression survives. Run from the repository root (``infra/bin/mutation.sh`` runs it too):
``.venv/bin/python tests/mutation/named_regressions.py``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys


def _swap_route_precedence(src: str) -> str:
    """Move the explicit-model branch of ``ModelRouter._plan`` before the named-route branch."""
    a = src.index("        if request.route is not None:\n")
    b = src.index("        if self._explicit_model(request):\n")
    c = src.index("\n", src.index("return self._direct(request.model", b)) + 1
    return src[:a] + src[b:c] + src[a:b] + src[c:]


CASES = [
    (
        "aging removed",
        "agents/scheduler.py",
        "return cq.weight * (1.0 + max(now - oldest.arrival, 0.0) / aging)",
        "return cq.weight",
        "tests/unit/agents/test_scheduler.py::test_aging_lets_an_old_low_class_overtake_a_young_high_class",
    ),
    (
        "streak not reset",
        "agents/circuit_breaker.py",
        "        self._window.append(True)\n        self._consecutive = 0\n",
        "        self._window.append(True)\n",
        "tests/unit/agents/test_circuit_breaker.py::test_a_success_resets_the_failure_streak",
    ),
    (
        "6 s window",
        "infra/rate_limits.py",
        "WINDOW_S = 60",
        "WINDOW_S = 6",
        "tests/unit/infra/test_rate_limits.py::test_an_rpm_limit_holds_for_the_whole_minute",
    ),
    (
        "overdue lane capped",
        "agents/scheduler.py",
        "self._overdue_tokens += self.settings.overdue_share",
        "self._overdue_tokens = min(self._overdue_tokens + self.settings.overdue_share, 0.99)",
        "tests/unit/agents/test_scheduler.py::test_overdue_lane_serves_exactly_its_share",
    ),
    (
        "precedence swapped",
        "agents/routing.py",
        None,  # a structural edit, see _swap_route_precedence
        None,
        "tests/unit/agents/test_routing_engine.py::test_a_named_route_wins_over_an_explicit_model",
    ),
]


def main() -> int:
    survived = 0
    for name, path, old, new, test in CASES:
        file = pathlib.Path(path)
        original = file.read_text()
        if old is None:
            mutated = _swap_route_precedence(original)
        else:
            if old not in original:
                print(f"{name}: the code it mutates has changed; update {__file__}")
                return 2
            mutated = original.replace(old, new, 1)
        file.write_text(mutated)
        try:
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", test]
            run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        finally:
            file.write_text(original)
        caught = run.returncode != 0
        survived += not caught
        print(f"{name:22s} {'killed' if caught else 'SURVIVED'} by {test.split('::')[1]}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
