"""Starting and stopping the router's own processes (worker, fake provider) from tools and tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ManagedProcess", "port_open", "start_fake_provider", "start_fake_providers", "start_worker"]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class ManagedProcess:
    """A child process whose output goes to a log file; ``stop()`` sends SIGTERM then SIGKILL."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the crash case, no cleanup at all."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_worker(
    config_path: str | os.PathLike[str],
    log_path: Path,
    *,
    name: str = "worker",
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ManagedProcess:
    """Start ``llm-router worker`` as a child process."""
    return ManagedProcess(
        name, [sys.executable, "-m", "streams.cli", "worker", "--config", str(config_path)], log_path, env, cwd
    )


def _fake_provider_args(port: int, *, reuse_port: bool, uvloop: bool) -> list[str]:
    args = [sys.executable, "-m", "streams.cli", "fake-provider", "--port", str(port)]
    return args + ["--reuse-port"] * reuse_port + ["--uvloop"] * uvloop


async def start_fake_providers(
    port: int, log_dir: Path, *, processes: int, uvloop: bool = True, timeout_s: float = 30.0
) -> list[ManagedProcess]:
    """``processes`` fake providers sharing ``port`` (SO_REUSEPORT): the kernel spreads connections over them, so
    a benchmark's provider is not one saturated event loop. Each logs to ``log_dir/fake-provider-<i>.log`` and
    keeps its own fault plans: only for load with no faults. Returns once every one of them listens."""
    procs = [
        ManagedProcess(
            f"fake-provider-{i}",
            _fake_provider_args(port, reuse_port=True, uvloop=uvloop),
            log_dir / f"fake-provider-{i}.log",
        )
        for i in range(processes)
    ]
    deadline = time.monotonic() + timeout_s
    waiting = list(procs)
    while waiting and time.monotonic() < deadline:
        for proc in list(waiting):
            if not proc.alive():
                for p in procs:
                    p.stop()
                raise RuntimeError(f"fake provider exited:\n{proc.tail()}")
            if f"fake provider ready (pid {proc.pid})" in proc.tail(5):  # logs append: this process's line
                waiting.remove(proc)
        await asyncio.sleep(0.05)
    if waiting:
        for p in procs:
            p.stop()
        raise RuntimeError(f"{len(waiting)} of {processes} fake providers did not listen on {port} in {timeout_s}s")
    return procs


async def start_fake_provider(
    port: int, log_path: Path, *, timeout_s: float = 20.0, reuse_port: bool = False, uvloop: bool = False
) -> ManagedProcess:
    """Start ``llm-router fake-provider`` on ``port`` and wait until it answers."""
    proc = ManagedProcess("fake-provider", _fake_provider_args(port, reuse_port=reuse_port, uvloop=uvloop), log_path)
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"fake provider exited:\n{proc.tail()}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"fake provider did not answer on port {port} within {timeout_s}s")
