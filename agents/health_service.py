"""Health I/O around the :class:`HealthBoard`: share transitions through the circuit store, publish
:class:`HealthEvent` records to the compacted health topic, and probe backends that need it."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging

from agents.circuit_breaker import Transition
from agents.health_board import HealthBoard
from infra.circuit_store import CircuitStore, SharedCircuit
from infra.providers.http_errors import backend_fault
from infra.providers.pool import BackendPool
from infra.shutdown import stop_tasks
from schemas.config import HealthSettings
from schemas.errors import ProviderError
from schemas.events import ChatMessage
from schemas.protocols import ProviderCall, Publisher
from schemas.wire import encode

__all__ = ["HealthService"]

log = logging.getLogger(__name__)


class HealthService:
    def __init__(
        self,
        board: HealthBoard,
        store: CircuitStore,
        publisher: Publisher,
        health_topic: str,
        pool: BackendPool,
        settings: HealthSettings,
        *,
        worker_id: str = "",
        default_model: str = "gpt-4o-mini",
    ) -> None:
        self.board = board
        self._store = store
        self._publisher = publisher
        self._topic = health_topic
        self._pool = pool
        self._settings = settings
        self._worker_id = worker_id
        self._default_model = default_model
        self._pending: set[asyncio.Task[None]] = set()
        self._probing: set[str] = set()
        #: the version of the config this worker runs, in every health event it publishes
        self.config_version: str | None = None

    def reconfigure(
        self, pool: BackendPool, settings: HealthSettings, default_model: str, config_version: str | None
    ) -> None:
        """A config reload: probe the new pool with the new settings (the board is reconfigured by the caller)."""
        self._pool = pool
        self._settings = settings
        self._default_model = default_model
        self.config_version = config_version

    # --- transitions ---------------------------------------------------------------------------------------
    def notify(self, transition: Transition | None) -> None:
        """Called from the hot path: share and publish in the background (never blocks a request)."""
        if transition is None:
            return
        log.warning(
            "circuit %s: %s -> %s (%s)",
            transition.backend,
            transition.old.value,
            transition.new.value,
            transition.reason,
        )
        # a fresh context: shared circuit state is not the business of the request that tripped it
        task = asyncio.create_task(self._announce(transition), context=contextvars.Context())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _announce(self, t: Transition) -> None:
        shared = SharedCircuit(t.new.value, t.at, t.open_until, t.reason, self._worker_id)
        await self._store.write(t.backend, shared)
        await self.publish(t.backend, t.reason)

    async def publish(self, backend: str, reason: str | None = None) -> None:
        try:
            event = self.board.event(backend, reason)
            event.config_version, event.worker = self.config_version, self._worker_id or None
            await self._publisher.publish(self._topic, encode(event), key=backend.encode())
        except Exception as exc:  # health publication is best effort; requests must not suffer
            log.warning("could not publish health of %s: %s", backend, exc)

    # --- loops ---------------------------------------------------------------------------------------------
    async def sync_once(self) -> None:
        shared = await self._store.read(self.board.backends)
        for backend, record in shared.items():
            t = self.board.apply_shared(backend, record)
            if t is not None:
                log.info(
                    "circuit %s: %s -> %s (from %s: %s)", backend, t.old.value, t.new.value, record.by, record.reason
                )
                await self.publish(backend, t.reason)

    async def probe_once(self, *, wait: bool = False) -> None:
        """Start a probe of every backend that is due and not being probed already."""
        started = []
        for backend in self.board.backends:
            if backend in self._probing or not self.board.probe_due(backend):
                continue
            self._probing.add(backend)
            task = asyncio.create_task(self._probe(backend))
            task.add_done_callback(functools.partial(self._probe_done, backend))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            started.append(task)
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)

    def _probe_done(self, backend: str, _task: object) -> None:
        self._probing.discard(backend)

    async def _probe(self, backend: str) -> None:
        interval = self._settings.probe_interval_s
        if not await self._store.try_lock_probe(backend, interval * 0.9):
            self.board.probe_skipped(backend)
            return
        config = self._pool.config(backend)
        model = config.probe_model or next((m for m in config.models if m != "*"), self._default_model)
        call = ProviderCall(
            model=model,
            messages=[ChatMessage(role="user", content="ping")],
            max_tokens=1,
            timeout_s=self._settings.probe_timeout_s,
            request_id=f"probe-{backend}",
        )
        try:
            await self._pool.get(backend).complete(call)
            ok, reason, trip = True, "", False
        except ProviderError as exc:
            ok, reason, trip = _probe_failure(exc, model_listed=model == config.probe_model or model in config.models)
        t = self.board.probe_result(backend, ok, reason, trip=trip)
        if t is not None:
            self.notify(t)
        else:
            await self.publish(backend, f"probe {'ok' if ok else 'failed: ' + reason}")

    async def run(self) -> None:
        """Sync shared state and probe, forever (cancel to stop)."""
        tick = min(self._settings.shared_refresh_s, self._settings.probe_interval_s)
        for backend in self.board.backends:
            await self.publish(backend, "worker started")
        while True:
            try:
                await self.sync_once()
                await self.probe_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("health loop iteration failed")
            await asyncio.sleep(tick)

    async def flush(self) -> None:
        """Wait for the announcements and probes started so far (tests; shutdown cancels them instead)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self, timeout_s: float = 0.5) -> None:
        """Stop pending probes and announcements within ``timeout_s`` (a hung probe must not hold shutdown)."""
        await stop_tasks(list(self._pending), timeout_s)


def _probe_failure(exc: ProviderError, *, model_listed: bool) -> tuple[bool, str, bool]:
    """``(ok, reason, trip)`` of a probe the backend refused. Refused credentials (and a 403/404 for a model the
    backend lists) mean it is down, at once; any other 4xx still proves the backend up and answering; retriable
    errors count as failures towards the breaker."""
    fault = backend_fault(exc, model_listed=model_listed)
    if fault is not None and fault.unhealthy:
        return False, fault.reason, True
    return not exc.retriable, exc.code, False
