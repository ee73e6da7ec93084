"""``benchmarks/results/chaos.png`` from ``chaos.json``: a table of every scenario's figures, for each scenario
that recorded a ``timeline`` (``[t, sent so far, answered so far]``) its curves with the fault windows shaded, and
for the soak its worker's RSS over the hour (``rss_series_mb``) with the warm-up shaded."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.chaos.record import CHAOS_JSON, load_results

__all__ = ["panels", "redraw", "summary_rows"]

COLUMNS = ("sent", "answered", "dead_lettered", "lost", "duplicates", "provider_calls_per_request", "crashes")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else "-"
    if isinstance(v, dict):
        return str(v.get("mean", "-"))
    return "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def summary_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [[name, *(_fmt(r.get(c)) for c in COLUMNS)] for name, r in sorted(scenarios.items())]


def _timeline_panel(ax: Any, name: str, r: dict[str, Any]) -> None:
    ts, sent, answered = zip(*r["timeline"], strict=True)
    ax.plot(ts, sent, label="sent", color="tab:blue")
    ax.plot(ts, answered, label="answered", color="tab:green")
    for start, end, what in r.get("faults") or []:
        if end - start < 0.5:
            ax.axvline(start, color="red", linestyle="--", label=what)
        else:
            ax.axvspan(start, end, color="red", alpha=0.15, label=what)
    ax.set_title(f"{name}: lost {r.get('lost')}, duplicates {r.get('duplicates')}", fontsize=9)
    ax.set_xlabel("s since the load started", fontsize=8)
    ax.set_ylabel("requests", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left")


def _rss_panel(ax: Any, name: str, r: dict[str, Any]) -> None:
    ts, mb = zip(*r["rss_series_mb"], strict=True)
    ax.plot([t / 60 for t in ts], mb, color="tab:purple", label="worker RSS")
    ax.axvspan(0, r.get("warmup_s", 0) / 60, color="grey", alpha=0.15, label="warm-up")
    growth, bound = r.get("growth_pct"), r.get("growth_target_pct")
    ax.set_title(f"{name}: RSS after warm-up {growth:+} % (target <= {bound} %)", fontsize=9)
    ax.set_xlabel("minutes since the load started", fontsize=8)
    ax.set_ylabel("MB", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")


def panels(scenarios: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """What is drawn below the table: (scenario, ``timeline`` | ``rss``), in name order."""
    out = []
    for name, r in sorted(scenarios.items()):
        if r.get("timeline"):
            out.append((name, "timeline"))
        if r.get("rss_series_mb"):
            out.append((name, "rss"))
    return out


_PANELS = {"timeline": _timeline_panel, "rss": _rss_panel}


def redraw(json_path: Path = CHAOS_JSON, png_path: Path | None = None) -> Path | None:
    """Draw every scenario of ``json_path``; None when there is nothing to draw or no matplotlib."""
    scenarios: dict[str, dict[str, Any]] = load_results(json_path)["scenarios"]
    if not scenarios:
        return None
    try:
        import matplotlib
    except ImportError:
        print("[chaos] matplotlib missing: no plot (pip install -e '.[bench]')")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = panels(scenarios)
    cols = 2
    rows = 1 + math.ceil(len(timed) / cols)
    fig = plt.figure(figsize=(12, 2.2 + 3.2 * (rows - 1)))
    grid = fig.add_gridspec(rows, cols, height_ratios=[0.7 + 0.12 * len(scenarios), *[1.0] * (rows - 1)])
    table_ax = fig.add_subplot(grid[0, :])
    table_ax.axis("off")
    table = table_ax.table(
        cellText=summary_rows(scenarios), colLabels=["scenario", *COLUMNS], loc="center", cellLoc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table_ax.set_title("Fault suite (python -m benchmarks chaos): benchmarks/results/chaos.json", fontsize=10)
    for i, (name, kind) in enumerate(timed):
        _PANELS[kind](fig.add_subplot(grid[1 + i // cols, i % cols]), name, scenarios[name])
    fig.tight_layout()
    out = png_path or json_path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
