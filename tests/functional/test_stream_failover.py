"""A streamed call that fails after its first chunk is not failed over: the client already holds part of one
backend's answer, and a second backend's answer would be spliced onto it. The chunks sent stand and the terminal
response reports the error; no other backend is called."""

from __future__ import annotations

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from schemas.events import ChatChunk, ChatMessage, ChatRequest, ChatResponse
from streams.library import Router
from tests.functional.conftest import set_faults, stats


def _config(server: FakeProviderServer) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "redis": {"enabled": False},
            "cache": {"enabled": False},
            "worker": {"metrics_port": 0, "retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05}},
            "health": {"healthy_probe_interval_s": 0},
            "default_model": "gpt-4o-mini",
            "backends": [
                {"name": n, "base_url": server.backend_url(n), "models": ["gpt-4o-mini"], "timeout_s": 0.6}
                for n in ("p", "q")
            ],
        }
    )


async def test_a_stream_cut_after_its_first_chunk_is_not_failed_over(fake_server: FakeProviderServer) -> None:
    for backend in ("p", "q"):  # whichever is tried first stalls between its events past the call's timeout
        await set_faults(fake_server, backend, stream_interval_s=0.4)
    request = ChatRequest(messages=[ChatMessage(role="user", content="one two three four five six")])
    chunks: list[ChatChunk] = []
    last: ChatResponse | None = None
    async with Router(_config(fake_server)) as router:
        async for item in router.stream(request):
            if isinstance(item, ChatChunk):
                chunks.append(item)
            else:
                last = item
    assert chunks and [c.index for c in chunks] == list(range(len(chunks)))
    assert last is not None and last.status == "error"
    assert last.error is not None and "stream interrupted" in last.error.message
    calls = [(await stats(fake_server, b))["calls"] for b in ("p", "q")]
    assert sorted(calls) == [0, 1], calls  # one backend, one call: neither failed over nor retried
