"""README "HTTP front door": its curl commands, run as written against ``serve --engine inline`` with the example
config (examples/frontdoor.yaml) and the fake provider."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import yaml

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from tests.frontdoor_support import running_door

REPO = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8080"


def readme_curls() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index("\n## HTTP front door\n")
    section = text[start : text.index("\n## ", start + 1)]
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        commands += [c for c in block.replace("\\\n", " ").splitlines() if c.startswith("curl ")]
    return commands


def example_config(fake: FakeProviderServer) -> RouterConfig:
    data = yaml.safe_load((REPO / "examples" / "frontdoor.yaml").read_text())
    data["redis"]["enabled"] = False  # functional: no Redis
    for backend in data["backends"]:
        backend["base_url"] = fake.backend_url(backend["name"])
    return RouterConfig.model_validate(data)


async def _curl(command: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command.replace("curl ", "curl --fail-with-body ", 1), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_readme_curl_examples_work(fake_server: FakeProviderServer) -> None:
    commands = readme_curls()
    assert len(commands) >= 4 and all(README_URL in c for c in commands)
    async with running_door(example_config(fake_server)) as (url, _):
        root = url.removesuffix("/v1")
        results = [await _curl(c.replace(README_URL, root)) for c in commands]
    for command, (code, out) in zip(commands, results, strict=True):
        assert code == 0, f"{command}\n-> exit {code}: {out}"
        json.loads(out)  # every example answers JSON
    hello, prove = json.loads(results[0][1]), json.loads(results[1][1])
    assert hello["choices"][0]["message"]["content"] == "[gpt-4o-mini] answer to: Hello"
    assert prove["model"] == "gpt-4o"  # "auto": the reasoning route chose the strong model
