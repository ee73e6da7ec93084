"""The OpenAI-compatible HTTP front door (``llm-router serve``): an ASGI app (:mod:`.asgi`) over the door's
decisions (:mod:`.door`) and an engine that answers (:mod:`.kafka_engine` over Kafka, :mod:`.engines` inline)."""
