"""Response cache: exact tier (hash) and semantic tier (embeddings + hnswlib + precision stage), entries in Redis."""
