"""Sentence embedders behind one small protocol, created from a spec string by a registry."""

from infra.embeddings.batcher import BatchingEmbedder
from infra.embeddings.registry import EMBEDDERS, create_embedder

__all__ = ["EMBEDDERS", "BatchingEmbedder", "create_embedder"]
