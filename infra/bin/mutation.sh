#!/usr/bin/env bash
# Mutation testing of the pure-logic modules against the unit tests (slow; not part of CI).
# Builds .venv-mutation (mutmut 3.8 needs click >= 8.4.2, faust-streaming pins click < 8.4: kept apart from .venv),
# runs mutmut over [tool.mutmut].only_mutate in pyproject.toml, then writes benchmarks/results/mutation.json with
# killed / survived / timeout per module and the reason recorded for each surviving mutant
# (benchmarks/mutation_reasons.toml). Extra arguments go to `mutmut run` (e.g. a mutant-name glob).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

PY="${PYTHON:-python3}"
VENV=.venv-mutation
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
WANT="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$WANT" ]; then
  log "installing llm-router[dev] and mutmut into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q -e ".[dev]" >&2
  # pip's resolver refuses mutmut beside faust's click pin; the unit tests never load faust's CLI, so the pin is
  # overridden here only (a warning from pip is expected)
  "$VENV/bin/python" -m pip install -q "mutmut==3.8.1" "click>=8.4.2" --no-deps >&2
  "$VENV/bin/python" -m pip install -q "coverage>=7.3" "libcst>=1.8.5" setproctitle "textual>=1.0" >&2
  echo "$WANT" > "$VENV/.installed"
fi

log "the five named regressions of issue 20"
"$VENV/bin/python" tests/mutation/named_regressions.py

log "mutmut run (progress in mutants/; interrupt and re-run to resume; MUTATION_FRESH=1 starts over)"
[ "${MUTATION_FRESH:-0}" = 1 ] && rm -rf mutants  # otherwise mutmut resumes and re-tests only what changed
set +e
"$VENV/bin/mutmut" run "$@"
rc=$?
set -e
[ "$rc" = 0 ] || log "mutmut exited $rc; summarising what it finished"
"$VENV/bin/python" -m benchmarks.mutation_report
