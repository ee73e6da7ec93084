"""Sentence embedders behind one small protocol, created from a spec string by a registry."""

from infra.embeddings.batcher import BatchingEmbedder
from infra.embeddings.registry import EMBEDDERS, EmbedderFactory, create_embedder

__all__ = ["EMBEDDERS", "BatchingEmbedder", "EmbedderFactory", "create_embedder"]
