"""Issue 13, fuzzing (short version of ``python -m benchmarks.chaos.load fuzz``): hypothesis-drawn hostile records
(tests/fuzz_records.py) interleaved with valid requests, produced to the class topics of a real worker in a signed
deployment. Every bad record yields exactly one dead letter with the precise code the oracle expects (never
``internal_error``) and an error response where the requester is known; every valid one is answered; the worker
process is the same one, alive, at the end."""

from __future__ import annotations

import pytest

from benchmarks.chaos.load import run_fuzz

pytestmark = pytest.mark.integration

#: records per run (about 40 % valid); the records of ~1 MB are part of the mix
CASES = 400


async def test_every_hostile_record_is_one_precise_dead_letter_and_every_valid_one_is_answered(
    kafka_bootstrap: str,
) -> None:
    r = await run_fuzz(cases=CASES, rate=200.0, quiet_s=30.0, seed=7)
    assert r["sent"] == CASES
    assert r["escapes"] == 0, r["escape_examples"]
    assert r["internal_error_letters"] == 0
    assert r["answered"] == r["valid_sent"] > CASES // 4
    assert r["dead_lettered"] == r["bad_sent"] > CASES // 4
    assert r["lost"] == 0 and r["duplicates"] == 0
    assert r["crashes"] == 0, "the worker restarted or died"
    # the mix really is hostile: several precise codes, not one
    assert len(r["expected_outcomes"]) >= 6, r["expected_outcomes"]
