"""Library mode against the fake provider (start it first: `llm-router fake-provider --port 8900`)."""

import asyncio

from schemas.events import ChatMessage, ChatRequest
from streams.library import Router


async def main() -> None:
    async with Router.from_config("infra/config/default.yaml") as router:
        for prompt in ["What is the capital of France?", "Prove that 17 is prime, step by step", "Python入门方法"]:
            r = await router.complete(ChatRequest(messages=[ChatMessage(role="user", content=prompt)]))
            route = r.routing.route if r.routing else None
            print(f"{r.status:5s} {r.model or '-':12s} route={route!s:14s} ${r.cost_usd:.6f}  {prompt}")


if __name__ == "__main__":
    asyncio.run(main())
