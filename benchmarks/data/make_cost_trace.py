"""Generate ``cost_trace.jsonl``: the mixed workload of ``python -m benchmarks cost``.

Easy prompts (chit-chat, facts, translations, definitions) and hard ones (multi-step math, reasoning, code,
design, analysis), each labelled; some have hand-written paraphrases (same question, other words or another
language); requests draw prompts with a skewed popularity (so some repeat exactly), from four tenants with
different mixes. Deterministic (seeded). Run: ``python -m benchmarks.data.make_cost_trace``."""

from __future__ import annotations

import json
import random
from pathlib import Path

# (prompt, [paraphrases])
EASY: list[tuple[str, list[str]]] = [
    ("hello, how are you today?", ["hi! how's it going?", "你好，你今天怎么样？"]),
    ("What is the capital of France?", ["Which city is the capital of France?", "¿Cuál es la capital de Francia?"]),
    ("What is the capital of Japan?", ["Tokyo is the capital of which country... I mean, what is Japan's capital?"]),
    ("Translate 'good morning' into Spanish", ["How do you say good morning in Spanish?"]),
    ("Give me a synonym for happy", ["What's another word for happy?"]),
    ("How many days are in a leap year?", ["Number of days in a leap year?"]),
    ("What time zone is Tokyo in?", ["Which time zone does Tokyo use?"]),
    ("Tell me a fun fact about cats", ["Share an interesting fact about cats"]),
    ("What does CPU stand for?", ["CPU is short for what?"]),
    ("Who wrote Romeo and Juliet?", ["Author of Romeo and Juliet?", "Wer hat Romeo und Julia geschrieben?"]),
    ("How many continents are there?", ["Number of continents on Earth?"]),
    ("What is the boiling point of water in Celsius?", ["At what temperature in Celsius does water boil?"]),
    ("thanks, that was helpful!", ["thank you, very helpful"]),
    ("What color do you get mixing blue and yellow?", ["blue + yellow makes which colour?"]),
    ("Define the word 'ephemeral'", ["What does ephemeral mean?"]),
    ("What is the largest planet in the solar system?", ["Which planet is the biggest in our solar system?"]),
    ("How do you say thank you in Japanese?", []),
    ("What is 15% of 200?", []),
    ("Recommend a good name for a golden retriever", []),
    ("What's the opposite of 'generous'?", []),
    ("Is a tomato a fruit or a vegetable?", ["Tomato: fruit or vegetable?"]),
    ("What language is spoken in Brazil?", ["Which language do people speak in Brazil?"]),
    ("Spell 'necessary' for me", []),
    ("good night!", []),
    ("What is the chemical symbol for gold?", ["Gold's chemical symbol?"]),
    ("How many legs does a spider have?", []),
    ("Convert 5 kilometers to miles", ["5 km in miles?"]),
    ("What day comes after Thursday?", []),
    ("Name three primary colors", []),
    ("What is the freezing point of water in Fahrenheit?", []),
]

HARD: list[tuple[str, list[str]]] = [
    (
        "Write a Python function that merges overlapping intervals and explain its complexity",
        ["Implement interval merging in Python and analyse the running time"],
    ),
    (
        "Prove that the square root of 2 is irrational",
        ["Show a proof that sqrt(2) cannot be written as a fraction", "证明根号2是无理数"],
    ),
    (
        "A train leaves at 3pm at 80 km/h and another leaves the same station at 4pm at 100 km/h; "
        "when does the second one catch up? Show your reasoning step by step.",
        [],
    ),
    (
        "Design a rate limiter for a distributed API gateway and discuss the trade-offs",
        ["How would you build a distributed rate limiter for an API gateway? Compare approaches."],
    ),
    (
        "Why does this code raise a KeyError?\n```python\nd = {}\nfor w in words:\n    d[w] += 1\n```",
        ["Debug this: d[w] += 1 inside a loop over words throws KeyError"],
    ),
    (
        "Analyze the pros and cons of microservices versus a monolith for a five-person startup",
        ["Microservices or monolith for a tiny startup team? Give a reasoned analysis."],
    ),
    ("Solve 3x^2 - 5x + 2 = 0 and verify both roots", ["Find the roots of 3x² − 5x + 2 and check them"]),
    (
        "Explain why quicksort is O(n log n) on average but O(n^2) in the worst case",
        ["Derive the average and worst case running time of quicksort"],
    ),
    (
        "Write a SQL query: SELECT the top 3 customers by revenue per region FROM orders joined with customers",
        [],
    ),
    (
        "Plan a database schema for a multi-tenant invoicing system with audit history",
        ["Design tables for multi-tenant invoices including an audit trail"],
    ),
    ("What is the time complexity of Dijkstra's algorithm with a binary heap, and why?", []),
    (
        "Summarize the key arguments for and against carbon taxes and critique the evidence",
        ["Give a critical analysis of carbon taxes: arguments and evidence on both sides"],
    ),
    (
        "def fib(n): return fib(n-1) + fib(n-2)  -- why does this never terminate and how do I fix it?",
        [],
    ),
    ("Derive the formula for the sum of a geometric series", ["Prove the closed form of a geometric sum"]),
    (
        "Compare and contrast TCP and UDP for a real-time multiplayer game and recommend one",
        ["TCP vs UDP for an online game: which and why?"],
    ),
    ("Optimize this SQL: SELECT * FROM events WHERE date(created_at) = '2024-01-01'", []),
    (
        "Estimate how many piano tuners work in Chicago, showing each assumption step by step",
        [],
    ),
    ("Write a function in JavaScript that debounces another function, with tests", []),
    (
        "Explain the CAP theorem and how it applies to choosing between Cassandra and PostgreSQL",
        ["How does the CAP theorem inform a choice between Cassandra and Postgres?"],
    ),
    (
        "Given a 2D grid of 0s and 1s, write an algorithm to count islands and prove it visits each cell once",
        [],
    ),
    ("Beweise, dass es unendlich viele Primzahlen gibt", ["Prove there are infinitely many primes"]),
    (
        "Traceback (most recent call last): File app.py line 3 TypeError: 'NoneType' object is not subscriptable "
        "- what causes this and how do I fix it?",
        [],
    ),
    ("Design an algorithm to detect a cycle in a linked list using O(1) memory and explain why it works", []),
    ("What are the trade-offs between optimistic and pessimistic locking in a banking system?", []),
    ("Calculate the monthly payment of a 300000 loan at 5% over 30 years and explain the formula", []),
]

TENANTS = {  # tenant -> share of hard prompts
    "support-bot": 0.15,
    "dev-tools": 0.65,
    "analytics": 0.45,
    "consumer-app": 0.25,
}


def build(n: int = 600, seed: int = 11) -> list[dict[str, object]]:
    rng = random.Random(seed)

    def popular(pool: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
        # Zipf-like: low indexes are popular, so some prompts repeat exactly
        weights = [1.0 / (i + 1) ** 0.8 for i in range(len(pool))]
        return rng.choices(pool, weights)[0]

    out: list[dict[str, object]] = []
    for i in range(n):
        tenant = rng.choice(list(TENANTS))
        hard = rng.random() < TENANTS[tenant]
        base, paraphrases = popular(HARD if hard else EASY)
        if paraphrases and rng.random() < 0.35:
            prompt, kind = rng.choice(paraphrases), "paraphrase"
        else:
            prompt, kind = base, "base"
        out.append(
            {
                "id": f"cost-{i:04d}",
                "tenant": tenant,
                "prompt": prompt,
                "difficulty": "hard" if hard else "easy",
                "kind": kind,
                "max_tokens": 800 if hard else 200,
            }
        )
    return out


def main() -> None:
    path = Path(__file__).with_name("cost_trace.jsonl")
    rows = build()
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    hard = sum(r["difficulty"] == "hard" for r in rows)
    print(f"wrote {len(rows)} requests ({hard} hard) to {path}")


if __name__ == "__main__":
    main()
