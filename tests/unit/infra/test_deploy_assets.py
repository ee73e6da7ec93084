"""The deployment assets (``Dockerfile``, ``infra/deploy/``) are checked against the code they deploy: no image is
built here, so every command line, config, port, topic and timeout they name is compared with what the CLI, the
config loader and the worker actually use. A renamed flag, topic or field breaks a test, not a rollout."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from infra.config_checks import environment_findings
from infra.config_loader import validate_text
from schemas.config import RouterConfig
from schemas.wire import TopicNames
from streams.cli import build_parser
from streams.runtime import CLOSE_TIMEOUT_S

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "infra" / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = REPO / "Dockerfile"
IMAGE = "llm-router"  # the image compose builds and the manifests name
SECRET_PLACEHOLDER = "x" * 64


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _k8s_objects() -> list[dict[str, Any]]:
    return [d for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in _docs(p)]


def _k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _k8s_objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _compose() -> dict[str, Any]:
    return _docs(DEPLOY / "compose.yaml")[0]


def _capacity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_capacity", DEPLOY / "capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _config(text: str, env: dict[str, str] | None = None) -> RouterConfig:
    result = validate_text(text, source="deploy config", env=env or {})
    assert result.config is not None, result.report()
    return result.config


def _deploy_config() -> RouterConfig:
    return _config((DEPLOY / "config.yaml").read_text(encoding="utf-8"))


def _dockerfile_instruction(name: str) -> str:
    lines = [ln for ln in DOCKERFILE.read_text(encoding="utf-8").splitlines() if ln.startswith(f"{name} ")]
    assert lines, f"Dockerfile has no {name}"
    return lines[-1][len(name) + 1 :].strip()


def _exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list), f"not the exec form: {text}"
    return value


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def _router_container(obj: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in _containers(obj) if c["image"].split(":")[0].endswith(IMAGE)]
    return container


def _argv_lines() -> dict[str, list[str]]:
    """Every ``llm-router`` argv the assets run: where -> the arguments after ``llm-router``."""
    entrypoint = _exec_form(_dockerfile_instruction("ENTRYPOINT"))
    assert entrypoint == ["llm-router"]
    lines = {"Dockerfile CMD": _exec_form(_dockerfile_instruction("CMD"))}
    for name, service in _compose()["services"].items():
        if service.get("image", "").split(":")[0] == IMAGE:
            assert "entrypoint" not in service, f"compose {name}: the image's ENTRYPOINT is llm-router"
            command = service.get("command", lines["Dockerfile CMD"])
            lines[f"compose {name}"] = shlex.split(command) if isinstance(command, str) else command
    for obj in _k8s_objects():
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            container = _router_container(obj)
            command = container.get("command", entrypoint)
            assert command == entrypoint, f"{obj['metadata']['name']}: runs {command}, not llm-router"
            lines[f"k8s {obj['metadata']['name']}"] = container.get("args", lines["Dockerfile CMD"])
    return lines


def test_every_yaml_asset_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {p.name for p in paths} >= {"config.yaml", "compose.yaml", "worker.yaml", "frontdoor.yaml"}
    for path in paths:
        assert _docs(path), f"{path} is empty"
    for obj in _k8s_objects():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
    for path in K8S.glob("*.yaml"):  # kustomize's YAML library does not reliably expand merge keys
        assert not re.search(r"^\s*<<:|: &\w", path.read_text(encoding="utf-8"), re.M), f"{path.name}: anchors"


def test_every_llm_router_command_line_parses_with_the_real_cli() -> None:
    lines = _argv_lines()
    commands = set()
    for where, argv in lines.items():
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{where}: `llm-router {shlex.join(argv)}` does not parse (exit {exc.code})")
        commands.add(args.command)
    assert _exec_form(_dockerfile_instruction("CMD"))[0] == "worker"  # the image's default: a worker
    assert {"worker", "serve", "topics", "fake-provider"} <= commands, commands


def test_the_deploy_config_validates_and_the_configmap_embeds_the_same() -> None:
    text = (DEPLOY / "config.yaml").read_text(encoding="utf-8")
    config = _deploy_config()
    configmap = _k8s("ConfigMap", "llm-router-config")
    embedded = configmap["data"]["config.yaml"]
    assert _config(embedded) == config
    assert yaml.safe_load(embedded) == yaml.safe_load(text), "the ConfigMap's config drifted from config.yaml"
    # containers elsewhere must reach the endpoints: not loopback
    assert config.worker.metrics_host == "0.0.0.0" and config.worker.metrics_port > 0
    assert config.frontdoor.host == "0.0.0.0"


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: SECRET_PLACEHOLDER if v is None or "${" in str(v) else str(v) for k, v in env.items()}


def _k8s_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", SECRET_PLACEHOLDER) for e in container.get("env", [])}


def _environments() -> dict[str, dict[str, str]]:
    compose = _compose()["services"]
    envs = {f"compose {n}": _compose_env(s) for n, s in compose.items() if s.get("image", "").split(":")[0] == IMAGE}
    for obj in _k8s_objects():
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            envs[f"k8s {obj['metadata']['name']}"] = _k8s_env(_router_container(obj))
    return envs


def test_every_container_has_the_secrets_the_config_references() -> None:
    """``worker`` and ``serve`` refuse to start without them (``check_env``): a missing one is a crash loop."""
    data = yaml.safe_load((DEPLOY / "config.yaml").read_text(encoding="utf-8"))
    for where, env in _environments().items():
        if where.endswith(("fake-provider", "topics")):
            continue
        missing = [f"{'.'.join(map(str, f.loc))}: {f.message}" for f in environment_findings(data, env)]
        assert not missing, f"{where} lacks secrets: {missing}"


def test_the_environment_overrides_keep_the_consumer_group_and_prefix() -> None:
    """KEDA and the dashboards name the group and topics of config.yaml: an override would move the workers away."""
    config = _deploy_config()
    for where, env in _environments().items():
        effective = _config((DEPLOY / "config.yaml").read_text(encoding="utf-8"), env)
        assert effective.kafka.consumer_group == config.kafka.consumer_group, where
        assert effective.kafka.topic_prefix == config.kafka.topic_prefix, where


def test_the_worker_grace_period_outlasts_its_stop() -> None:
    """On SIGTERM the worker leaves the group and closes within CLOSE_TIMEOUT_S (in-flight calls are cancelled,
    their records uncommitted, so another worker serves them). A kill before it left costs the group a
    session timeout without that worker's partitions: the grace covers both, with room."""
    config = _deploy_config()
    worker = _k8s("Deployment", "llm-router-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > config.kafka.session_timeout_s + CLOSE_TIMEOUT_S


def _pre_stop_sleep_s(container: dict[str, Any]) -> float:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    return float(command[-1]) if command[:1] == ["sleep"] else 0.0


def test_the_front_door_grace_period_outlasts_its_drain() -> None:
    """``serve`` drains connections for ``frontdoor.timeout_s + 5`` s (uvicorn's timeout_graceful_shutdown in
    streams/frontdoor/server.py), after the preStop pause that lets the Service stop sending it new requests."""
    config = _deploy_config()
    door = _k8s("StatefulSet", "llm-router-frontdoor")
    spec = door["spec"]["template"]["spec"]
    drain = int(config.frontdoor.timeout_s) + 5
    assert spec["terminationGracePeriodSeconds"] > _pre_stop_sleep_s(_router_container(door)) + drain
    source = (REPO / "streams" / "frontdoor" / "server.py").read_text(encoding="utf-8")
    assert "timeout_graceful_shutdown=int(config.frontdoor.timeout_s) + 5" in source


def _probe_ports(container: dict[str, Any]) -> set[int]:
    probes = [container[p] for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in container]
    assert probes, f"{container['name']} has no probes"
    return {p["httpGet"]["port"] for p in probes}


def test_probes_and_ports_match_the_config() -> None:
    config = _deploy_config()
    worker = _router_container(_k8s("Deployment", "llm-router-worker"))
    assert _probe_ports(worker) == {config.worker.metrics_port}
    door = _router_container(_k8s("StatefulSet", "llm-router-frontdoor"))
    assert _probe_ports(door) == {config.frontdoor.port}
    assert door["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = _k8s("Service", "llm-router-frontdoor")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {config.frontdoor.port}
    health = _dockerfile_instruction("HEALTHCHECK")
    assert f":{config.worker.metrics_port}/metrics" in DOCKERFILE.read_text(encoding="utf-8"), health


def _triggers() -> list[dict[str, str]]:
    scaled = _k8s("ScaledObject", "llm-router-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "llm-router-worker"
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    return [t["metadata"] for t in triggers]


def test_keda_scales_on_the_group_and_topics_the_worker_consumes() -> None:
    config = _deploy_config()
    triggers = _triggers()
    # the worker's Faust app is named after the consumer group (streams.app.create_app), its class agents read
    # TopicNames.all_requests (agents.router_agent.register_router_agents), the lag metric watches the same
    assert {t["consumerGroup"] for t in triggers} == {config.kafka.consumer_group}
    assert sorted(t["topic"] for t in triggers) == sorted(TopicNames(config.kafka.topic_prefix).all_requests)
    worker_env = _k8s_env(_router_container(_k8s("Deployment", "llm-router-worker")))
    brokers = _config((DEPLOY / "config.yaml").read_text(encoding="utf-8"), worker_env).kafka.bootstrap_servers
    assert {t["bootstrapServers"] for t in triggers} == {brokers}, "KEDA must ask the brokers the workers use"
    scaled = _k8s("ScaledObject", "llm-router-worker")["spec"]
    # a worker beyond a class topic's partition count gets none of that class: every worker KEDA may start serves
    # every class (so each worker's scheduler arbitrates among all four), and none idles
    assert scaled["maxReplicaCount"] <= min(config.kafka.request_partitions.values())
    assert scaled["minReplicaCount"] >= 1  # lag is measured on committed offsets: zero workers commit nothing
    assert all(t.get("allowIdleConsumers", "false") == "false" for t in triggers)


def test_the_lag_threshold_is_derived_from_the_measured_throughput() -> None:
    """Lag per worker above which KEDA adds one: above what a worker that keeps up shows anyway (records
    buffered and in flight, offsets committed every commit_interval_s), below several seconds of its work."""
    config = _deploy_config()
    capacity = _capacity().measured()
    steady = capacity.worker_rps * config.kafka.commit_interval_s + config.worker.max_in_flight
    for t in _triggers():
        threshold = int(t["lagThreshold"])
        assert steady < threshold <= 5 * capacity.worker_rps, (t["topic"], threshold, steady, capacity)
        assert threshold == _capacity().lag_threshold(capacity), (
            "run `.venv/bin/python infra/deploy/capacity.py --write`"
        )


def test_the_worker_resources_follow_the_measured_cpu_per_request() -> None:
    capacity = _capacity().measured()
    requests = _router_container(_k8s("Deployment", "llm-router-worker"))["resources"]["requests"]
    cpu = requests["cpu"]
    cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    # the request covers the measured per-worker rate at the measured CPU per request
    needed = capacity.worker_rps * capacity.cpu_ms_per_request / 1000
    assert cores >= needed * 0.9, f"raise the worker's CPU request in k8s/worker.yaml to {needed:.2f} cores"


def test_the_compose_worker_can_scale() -> None:
    services = _compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    assert worker["image"].split(":")[0] == IMAGE
    assert worker.get("build", {}).get("context") in ("../..", "../../")
    assert {"kafka", "redis", "worker", "frontdoor", "fake-provider"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:")
    configs = [v for v in worker.get("volumes", []) if "config.yaml" in str(v)]
    assert configs, "the worker does not mount infra/deploy/config.yaml"


def test_the_kustomization_lists_every_manifest_but_the_hpa_alternative() -> None:
    listed = set(_docs(K8S / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"hpa-external-metrics.yaml"}  # KEDA and a second HPA would fight over replicas
    hpa = _k8s("HorizontalPodAutoscaler", "llm-router-worker")["spec"]
    scaled = _k8s("ScaledObject", "llm-router-worker")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (scaled["minReplicaCount"], scaled["maxReplicaCount"])
    target = hpa["metrics"][0]["external"]["target"]["averageValue"]
    assert {target} == {t["lagThreshold"] for t in _triggers()}


def test_the_pod_disruption_budget_covers_the_workers() -> None:
    pdb = _k8s("PodDisruptionBudget", "llm-router-worker")
    labels = _k8s("Deployment", "llm-router-worker")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_image_runs_as_a_user_and_installs_no_extras() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    user = _dockerfile_instruction("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    installs = re.findall(r"pip install[^\n]*", text)
    assert any(re.search(r"pip install[^\n]* \.(\s|$)", i) for i in installs), installs
    assert not any("[" in i for i in installs), f"no extras in the image: {installs}"
    # hnswlib is built from source: without this its setup.py adds -march=native (the image would only run on CPUs
    # like the build host's)
    assert "HNSWLIB_NO_NATIVE=1" in text
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "mutants"} <= {p.strip("/") for p in ignored}


def test_the_readme_capacity_table_is_generated_from_the_results() -> None:
    capacity = _capacity()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    begin, end = capacity.BEGIN_MARK, capacity.END_MARK
    assert begin in readme and end in readme
    current = readme[readme.index(begin) + len(begin) : readme.index(end)].strip()
    assert current == capacity.render_table().strip(), (
        "README's capacity table is stale: run `.venv/bin/python infra/deploy/capacity.py --write`"
    )


def test_the_capacity_arithmetic() -> None:
    capacity = _capacity()
    measured = capacity.Measured(worker_rps=400.0, cpu_ms_per_request=2.0, rps_source="a", cpu_source="b")
    row = capacity.plan(1000, measured, target_utilisation=0.7)
    assert row.workers == math.ceil(1000 / (400 * 0.7))
    assert row.cores == pytest.approx(1000 * 2.0 / 1000)  # the CPU the rate itself burns
    assert row.min_partitions == row.workers


def test_the_capacity_figures_come_from_the_best_result_with_a_rate(tmp_path: Path) -> None:
    capacity = _capacity()
    old_overhead = {"service_500": {"answered_rps": 388.0}, "64": {"ours_cpu_ms_per_request": 2.0}}
    (tmp_path / "overhead.json").write_text(json.dumps(old_overhead))
    trial = {"summary": {"sustained_rps_one_worker": 0.0, "worker_cpu_ms_per_request_at_100": 24.2}}
    (tmp_path / "service.json").write_text(json.dumps(trial))
    m = capacity.measured(tmp_path)  # a run that sustained nothing says nothing about CPU either
    assert (m.worker_rps, m.cpu_ms_per_request) == (388.0, 2.0)
    assert "`overhead.json` field `service_500.answered_rps`" in m.rps_source
    real = {"summary": {"sustained_rps_one_worker": 1100.0, "worker_cpu_ms_per_request_at_80pct": 0.8}}
    (tmp_path / "service.json").write_text(json.dumps(real))
    m = capacity.measured(tmp_path)
    assert (m.worker_rps, m.cpu_ms_per_request) == (1100.0, 0.8)
    assert "summary.worker_cpu_ms_per_request_at_80pct" in m.cpu_source
    (tmp_path / "service.json").unlink()
    (tmp_path / "overhead.json").write_text(json.dumps({"ours_cpu_ms_per_request": {"64": 1.5}}))
    with pytest.raises(SystemExit, match="python -m benchmarks service"):
        capacity.measured(tmp_path)  # the new overhead.json has no service part: the service benchmark is needed
