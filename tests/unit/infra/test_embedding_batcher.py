import numpy as np
import pytest

from infra.embeddings.batcher import BatchingEmbedder


class _Counting:
    name = "counting"
    dim = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


async def test_a_prompt_embedded_twice_is_computed_once() -> None:
    inner = _Counting()
    emb = BatchingEmbedder(inner)
    a = await emb.embed_one("How to learn Python")
    b = await emb.embed_one("How to learn Python")  # the route exemplars after the cache lookup
    c = await emb.embed_one("something else")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sum(len(batch) for batch in inner.calls) == 2 and emb.reused == 1


class _Short(_Counting):
    """Returns one row too few the first time (a model that misbehaves once)."""

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = super().embed(texts)
        return rows[:-1] if len(self.calls) == 1 else rows


@pytest.mark.timeout(5)
async def test_a_misbehaving_embedder_fails_the_batch_not_the_batcher() -> None:
    """Issue 13, finding 5: a wrong number of rows used to kill the batching task, and every later caller
    waited forever; now the batch fails and the next one is served."""
    emb = BatchingEmbedder(_Short())
    with pytest.raises(ValueError, match="rows"):
        await emb.embed_one("first")
    assert (await emb.embed_one("second")).shape == (3,)
    await emb.aclose()
