"""Library mode against the fake provider (start it first: `llm-router fake-provider --port 8900`).

Runs from any directory: the config is ``$LLM_ROUTER_CONFIG`` if set, else the packaged default
(infra/config/default.yaml: the fake provider on port 8900, Redis on 6379)."""

import asyncio

from llm_router import ChatMessage, ChatRequest, Router

PROMPTS = ["What is the capital of France?", "Prove that 17 is prime, step by step", "Python入门方法"]


async def main() -> None:
    async with Router.from_config() as router:
        for prompt in PROMPTS:
            r = await router.complete(ChatRequest(messages=[ChatMessage(role="user", content=prompt)]))
            route = r.routing.route if r.routing else None
            print(f"{r.status:5s} {r.model or '-':12s} route={route!s:14s} ${r.cost_usd:.6f}  {prompt}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
