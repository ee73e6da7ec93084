"""Adapters to the outside world (providers, Redis, config files) and deploy assets (infra/bin, infra/kafka)."""
