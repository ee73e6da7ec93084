"""The operations console (``llm-router console``): one live web page of backends, queues, cache, cost, recent
failures and dead letters (with replay), read from Kafka and the workers' ``/metrics``. Nothing below
``streams`` imports it."""
