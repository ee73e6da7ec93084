"""Text summary of a py-spy speedscope profile: per thread, the functions with the most samples on the stack
(inclusive) and on top of it (self), idle waits (``select``, thread-pool ``get``) left out so the shares are of
the time the thread was working. ``python -m benchmarks.profile_top PROFILE.json [--top N]``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["IDLE", "summarise"]

#: frames in which a thread waits for work rather than does it
IDLE = ("EpollSelector.select", "Condition.wait", "_worker (concurrent/futures/thread.py:81)", "Queue.get")


def _name(frame: dict[str, Any]) -> str:
    path = str(frame.get("file", ""))
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{frame['name']} ({path}:{frame.get('line')})"


def summarise(profile: dict[str, Any], top: int = 30) -> str:
    """The report, one section per thread with working samples."""
    names = [_name(f) for f in profile["shared"]["frames"]]
    out: list[str] = []
    for thread in profile["profiles"]:
        stacks = [s for s in thread["samples"] if s and not any(i in names[s[-1]] for i in IDLE)]
        if not stacks:
            continue
        own: Counter[str] = Counter(names[s[-1]] for s in stacks)
        inclusive: Counter[str] = Counter(n for s in stacks for n in {names[i] for i in s})
        total = len(stacks)
        share = total / max(len(thread["samples"]), 1)
        out.append(f"== {thread['name']}: {total} working samples ({share:.0%} of its samples)")
        out.append("-- inclusive")
        out += [f"{c / total:6.1%}  {n}" for n, c in inclusive.most_common(top)]
        out.append("-- self")
        out += [f"{c / total:6.1%}  {n}" for n, c in own.most_common(top)]
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(summarise(json.loads(args.profile.read_text()), args.top))


if __name__ == "__main__":
    main()
