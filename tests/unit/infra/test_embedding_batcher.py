import numpy as np

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
