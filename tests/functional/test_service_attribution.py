"""The attribution benchmark's own parts: every variant is a valid config, and a variant's runs summarise."""

from __future__ import annotations

import json

import pytest

from benchmarks.service_attribution import VARIANTS, _Runs
from infra.config_loader import parse_config


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_is_a_valid_config(variant: str) -> None:
    backend = {"name": "b", "base_url": "http://127.0.0.1:1/v1", "models": ["m"]}
    body: dict[str, object] = {"backends": [backend], "cache": {"enabled": False}}
    for section, values in VARIANTS[variant].items():
        body.setdefault(section, {}).update(values)  # type: ignore[attr-defined]
    config = parse_config(json.dumps(body), env={})
    if variant in ("no_redis", "lean"):
        assert not config.redis.enabled
    if variant == "no_leases":
        assert not config.limits.cluster_concurrency


def test_runs_summarise_to_their_mean() -> None:
    steps = [
        {
            "worker_cpu_ms_per_request": w,
            "box_cpu_ms_per_request": w + 4,
            "added_p50_ms": 30.0,
            "added_p99_ms": 90.0,
            "answered_rps_during": 150.0,
        }
        for w in (5.0, 6.0)
    ]
    summary = _Runs(steps).summary()
    assert summary["worker_cpu_ms_per_request_mean"] == pytest.approx(5.5)
    assert summary["box_cpu_ms_per_request_mean"] == pytest.approx(9.5)
    assert summary["worker_cpu_ms_per_request_runs"] == [5.0, 6.0]
