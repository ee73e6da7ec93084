"""Example budgets for hypothesis property tests.

Under mutation testing (mutmut sets ``MUTANT_UNDER_TEST`` in the process that runs a mutant) every mutant re-runs
the property tests that cover it; a fifth of the examples still kills what the full budget kills in practice and
keeps `infra/bin/mutation.sh` to minutes. Normal runs use the full budget."""

from __future__ import annotations

import os


def examples(n: int) -> int:
    return max(10, n // 5) if os.environ.get("MUTANT_UNDER_TEST") else n
