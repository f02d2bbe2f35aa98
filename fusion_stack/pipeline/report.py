"""Tables and JSON of a pipeline run (:class:`~fusion_stack.pipeline.runner.RunSummary`): detection metrics side by
side, per-stage latency, real-time factors and degraded operation. Returns text; printing is the caller's."""

from __future__ import annotations

import math
from typing import Any

from fusion_stack.pipeline.runner import PipelineSummary, RunSummary

_CLASSES_SHOWN = ("car", "truck", "bus", "pedestrian", "bicycle", "motorcycle")


def _f(x: float, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def metrics_table(summary: RunSummary) -> str:
    """One row per pipeline: mAP, NDS, the mean TP errors and the AP of the main classes (frames with ground
    truth only)."""
    head = ["pipeline", "level", "frames", "mAP", "NDS", "mATE", "mASE", "mAOE", "mAVE",
            *(f"AP {c[:5]}" for c in _CLASSES_SHOWN)]
    rows = []
    for p in summary.pipelines:
        m = p.metrics
        if m is None:
            rows.append([p.name, p.level, str(p.stats.frames), *(["-"] * (len(head) - 3))])
            continue
        te = m.tp_errors
        aps = [_f(m.per_class[c].mean_ap) if c in m.per_class else "-" for c in _CLASSES_SHOWN]
        rows.append([p.name, p.level, str(p.stats.frames), _f(m.mean_ap), _f(m.nd_score), _f(te["ate"]),
                     _f(te["ase"]), _f(te["aoe"]), _f(te["ave"]), *aps])
    return _table(head, rows)


def latency_table(summary: RunSummary) -> str:
    """One row per pipeline and stage: p50 / p95 / max ms per frame; the last column of the ``total`` row is the
    real-time factor (data time / processing time)."""
    head = ["pipeline", "stage", "p50 ms", "p95 ms", "max ms", "x real time"]
    rows = []
    for p in summary.pipelines:
        lat = p.stats.latency_table()
        for i, (stage, v) in enumerate(lat.items()):
            rt = f"{p.realtime_factor:.1f}" if stage == "total" else ""
            rows.append([p.name if i == 0 else "", stage, _f(v["p50"], 1), _f(v["p95"], 1), _f(v["max"], 1), rt])
    return _table(head, rows)


def degraded_table(summary: RunSummary) -> str:
    """Per pipeline: frames with each missing sensor and the most frequent notes (degraded operation)."""
    lines = []
    for p in summary.pipelines:
        if not p.stats.missing:
            lines.append(f"{p.name}: every sensor present in all {p.stats.frames} frames")
            continue
        miss = ", ".join(f"{s} in {n}" for s, n in sorted(p.stats.missing.items()))
        lines.append(f"{p.name}: degraded, missing {miss} of {p.stats.frames} frames")
    return "\n".join(lines)


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def summary_to_dict(summary: RunSummary) -> dict[str, Any]:
    """A JSON-able dict of the run: metrics (nuScenes dict), latency per stage, real-time factor, missing."""
    def one(p: PipelineSummary) -> dict[str, Any]:
        return {"level": p.level, "frames": p.stats.frames,
                "metrics": None if p.metrics is None else p.metrics.to_dict(),
                "latency_ms": p.stats.latency_table(), "processing_s": p.processing_s, "data_s": p.data_s,
                "realtime_factor": p.realtime_factor, "missing": dict(p.stats.missing),
                "notes": dict(p.stats.notes.most_common(20))}

    return {"samples": summary.samples, "read_s": summary.read_s, "skipped_messages": summary.skipped,
            "pipelines": {p.name: one(p) for p in summary.pipelines}}
