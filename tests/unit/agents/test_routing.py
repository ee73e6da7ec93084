import pytest

from agents.routing import Candidate, ModelRouter
from infra.config_loader import parse_config
from schemas.errors import NoRouteError
from schemas.events import ChatMessage, ChatRequest

CFG = parse_config(
    """
default_model: m-small
model_aliases: {fast: m-small, smart: m-big}
backends:
  - {name: one, base_url: "http://x/v1", models: [m-small, m-big]}
  - {name: two, base_url: "http://y/v1", models: [m-big]}
  - {name: any, base_url: "http://z/v1", models: ["*"]}
""",
    env={},
)


def _req(**kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="q")], **kw)  # type: ignore[arg-type]


def test_alias_and_default_resolution() -> None:
    router = ModelRouter(CFG)
    assert router.candidates(_req()) == [Candidate("one", "m-small"), Candidate("any", "m-small")]
    assert router.candidates(_req(model="smart")) == [
        Candidate("one", "m-big"),
        Candidate("two", "m-big"),
        Candidate("any", "m-big"),
    ]
    assert router.candidates(_req(model="other")) == [Candidate("any", "other")]


def test_unknown_model_without_wildcard_is_no_route() -> None:
    cfg = CFG.model_copy(update={"backends": CFG.backends[:2]})
    with pytest.raises(NoRouteError, match="no backend serves model 'other'"):
        ModelRouter(cfg).candidates(_req(model="other"))


def test_retry_tier_topic_is_the_band_of_the_delay() -> None:
    from schemas.wire import TopicNames

    names = TopicNames("x")
    tiers = [0.0, 1.0, 2.0, 5.0, 10.0]
    assert [names.retry_tier(tiers, d) for d in (0.0, 0.4, 1.0, 4.9, 5.0, 999)] == [
        "x.retry.0s",
        "x.retry.0s",
        "x.retry.1s",
        "x.retry.2s",
        "x.retry.5s",
        "x.retry.10s",
    ]
