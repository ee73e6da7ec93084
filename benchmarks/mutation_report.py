"""Summarise a mutmut run into ``benchmarks/results/mutation.json``: killed / survived / timeout per module.

mutmut keeps one ``mutants/<path>.meta`` JSON file per mutated source file, mapping each mutant's name to the
exit code of the tests run against it. A surviving mutant must either get a test or a one-line reason in
``benchmarks/mutation_reasons.toml`` (``"<mutant name>" = "equivalent: ..."``); reasons turn a survivor into an
``explained`` mutant, which the score leaves out. A key may be a glob (``fnmatch``) over mutant names, e.g.
every mutant of an I/O adapter that only the integration tests exercise. The score is
``killed / (killed + survived + timeout + no_tests)`` over the mutants that are not explained; the issue's target
is >= 0.9 for each module.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
REASONS = ROOT / "benchmarks" / "mutation_reasons.toml"
OUT = ROOT / "benchmarks" / "results" / "mutation.json"
TARGET = 0.9

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code, 3.8)
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no_tests", 33: "no_tests", 34: "skipped", 36: "timeout"}
_TIMEOUT_CODES = {-24, 24, 152, 255}


def _status(code: int | None) -> str:
    if code is None:
        return "not_checked"
    if code in _TIMEOUT_CODES:
        return "timeout"
    return _STATUS.get(code, "suspicious")


def _module_of(meta: Path) -> str:
    rel = meta.relative_to(MUTANTS).as_posix()
    return rel.removesuffix(".meta")


class _Sources:
    """The mutated functions mutmut wrote into ``mutants/<path>``, by name (parsed once per file)."""

    def __init__(self) -> None:
        self._by_file: dict[Path, dict[str, str]] = {}

    def _functions(self, path: Path) -> dict[str, str]:
        if path not in self._by_file:
            text = path.read_text()
            lines = text.splitlines()
            found: dict[str, str] = {}
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
                    found[node.name] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            self._by_file[path] = found
        return self._by_file[path]

    def diff(self, source: Path, name: str) -> str:
        """The lines a mutant changed, against the original function (``-`` original, ``+`` mutant)."""
        func = name.rsplit(".", 1)[-1]
        base = func.rsplit("__mutmut_", 1)[0]
        functions = self._functions(source)
        original, mutant = functions.get(base + "__mutmut_orig"), functions.get(func)
        if original is None or mutant is None:
            return ""
        mutant = mutant.replace(func, base + "__mutmut_orig", 1)
        lines = difflib.unified_diff(original.splitlines(), mutant.splitlines(), lineterm="", n=0)
        return "\n".join(ln for ln in lines if ln[:1] in "+-" and not ln.startswith(("+++", "---")))


def _reason(name: str, reasons: dict[str, str]) -> str | None:
    if name in reasons:
        return reasons[name]
    return next(
        (why for pattern, why in reasons.items() if "*" in pattern and fnmatch.fnmatchcase(name, pattern)), None
    )


def summarise(reasons: dict[str, str], *, with_diffs: bool = True) -> dict[str, Any]:
    modules: dict[str, Any] = {}
    sources = _Sources()
    for meta in sorted(MUTANTS.rglob("*.meta")):
        data = json.loads(meta.read_text())
        codes: dict[str, int | None] = data.get("exit_code_by_key", {})
        if not codes:
            continue
        counts: Counter[str] = Counter()
        survivors: list[dict[str, str]] = []
        for name, code in sorted(codes.items()):
            status = _status(code)
            if status in ("survived", "timeout", "no_tests") and _reason(name, reasons) is not None:
                counts["explained"] += 1
                continue
            counts[status] += 1
            if status in ("survived", "no_tests"):
                source = meta.with_suffix("")  # mutants/<path>.py
                survivors.append({"mutant": name, "diff": sources.diff(source, name) if with_diffs else ""})
        scored = counts["killed"] + counts["survived"] + counts["timeout"] + counts["no_tests"]
        modules[_module_of(meta)] = {
            "total": len(codes),
            **{k: counts[k] for k in ("killed", "survived", "timeout", "no_tests", "explained", "not_checked")},
            "score": round(counts["killed"] / scored, 4) if scored else None,
            "meets_target": bool(scored) and counts["killed"] / scored >= TARGET,
            "survivors": survivors,
        }
    return modules


def main() -> int:
    reasons = tomllib.loads(REASONS.read_text()).get("reasons", {}) if REASONS.exists() else {}
    modules = summarise(reasons, with_diffs="--no-diffs" not in sys.argv)
    if not modules:
        print("no mutmut results under mutants/: run infra/bin/mutation.sh first", file=sys.stderr)
        return 1
    explained = {name: why for name, why in reasons.items() if any(name.startswith(m.split("/")[0]) for m in modules)}
    OUT.write_text(json.dumps({"target": TARGET, "modules": modules, "reasons": explained}, indent=2) + "\n")
    width = max(len(m) for m in modules)
    print(f"{'module':{width}}  killed survived timeout explained  score")
    for name, m in modules.items():
        score = "-" if m["score"] is None else f"{m['score']:.3f}"
        flag = "" if m["meets_target"] else "  < target"
        print(f"{name:{width}}  {m['killed']:6} {m['survived']:8} {m['timeout']:7} {m['explained']:9}  {score}{flag}")
    print(f"written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
