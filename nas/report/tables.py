"""Rows, fronts, correlations and the files of the search report."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from export.atomic import write_atomically
from nas.arch import Arch
from nas.objectives import Objective
from nas.pareto import hypervolume, pareto_front
from nas.search import ARCH_ATTR, METRICS_ATTR, feasible, finished_trials

COLUMNS = ("number", "status", "feasible", "digest", "val_top1", "latency_ms", "arena_bytes", "params", "macs",
           "slm_bytes", "duplicate_of")


def candidate_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished candidate, in trial order."""
    rows = []
    for t in sorted(finished_trials(study), key=lambda t: t.number):
        m = t.user_attrs.get(METRICS_ATTR, {})
        rows.append({"number": t.number, "status": t.user_attrs.get("status", t.state.name.lower()),
                     "feasible": feasible(t), "digest": t.user_attrs.get("arch_digest"),
                     "arch": t.user_attrs[ARCH_ATTR], "constraints": dict(t.constraints),
                     "values": list(t.values) if t.values else None, **m})
    return rows


def _min_form(objs: Sequence[Objective], row: Mapping[str, Any]) -> list[float]:
    return [(-1.0 if o.direction == "maximize" else 1.0) * float(row[o.metric]) for o in objs]


def front_rows(rows: Sequence[Mapping[str, Any]], objs: Sequence[Objective]) -> list[dict[str, Any]]:
    """The feasible, complete, non-dominated candidates (one per distinct network), by the first objective."""
    pool = [dict(r) for r in rows if r["feasible"] and r.get("duplicate_of") is None
            and all(r.get(o.metric) is not None for o in objs)]
    idx = pareto_front([_min_form(objs, r) for r in pool])
    front = [pool[i] for i in idx]
    return sorted(front, key=lambda r: _min_form(objs, r))


def hypervolume_curve(rows: Sequence[Mapping[str, Any]], objs: Sequence[Objective]) -> list[tuple[int, float]]:
    """Hypervolume of the feasible front after each candidate. Reference point: accuracy 0 %, every cost
    objective 1.1x the worst value seen, so the curve of one study is comparable along its trials."""
    pool = [r for r in rows if r["feasible"] and all(r.get(o.metric) is not None for o in objs)]
    if not pool:
        return []
    ref = []
    for o in objs:
        if o.direction == "maximize":
            ref.append(0.0 if o.metric == "val_top1" else -min(float(r[o.metric]) for r in pool) + 1e-9)
        else:
            ref.append(1.1 * max(float(r[o.metric]) for r in pool))
    curve, points = [], []
    for r in sorted(rows, key=lambda r: r["number"]):
        if r in pool:
            points.append(_min_form(objs, r))
        curve.append((int(r["number"]), hypervolume(points, ref) if points else 0.0))
    return curve


def spearman_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Spearman rho of MACs and of params against measured latency over every distinct measured network."""
    from scipy.stats import spearmanr

    seen: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r.get("latency_ms") is not None and r.get("digest") not in seen:
            seen[str(r.get("digest"))] = r
    measured = list(seen.values())
    out: dict[str, Any] = {"n": len(measured)}
    for key in ("macs", "params", "arena_bytes"):
        pairs = [(float(r[key]), float(r["latency_ms"])) for r in measured if r.get(key) is not None]
        if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1:
            rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
            out[f"rho_{key}_latency"] = None if math.isnan(rho) else float(rho)
        else:
            out[f"rho_{key}_latency"] = None
    return out


COMPARISON_COLUMNS = ("baseline", "baseline_latency_ms", "baseline_val_top1", "searched_at_latency",
                      "searched_latency_ms", "searched_val_top1", "delta_top1", "fastest_at_top1",
                      "fastest_latency_ms", "fastest_val_top1", "latency_ratio")


def equal_latency_rows(rows: Sequence[Mapping[str, Any]], baselines: Sequence[Mapping[str, Any]]
                       ) -> list[dict[str, Any]]:
    """Each zoo baseline against the searched networks, both ways: the most accurate candidate no slower than
    it (``delta_top1``), and the fastest candidate at least as accurate (``latency_ratio`` = its latency over
    the baseline's). Only complete, feasible candidates count: a pruned one's accuracy is a partial curve."""
    pool = [r for r in rows if r["feasible"] and r["status"] == "complete" and r.get("duplicate_of") is None
            and r.get("val_top1") is not None and r.get("latency_ms") is not None]
    out = []
    for b in baselines:
        lat, acc = b.get("latency_ms"), b.get("val_top1")
        if lat is None or acc is None:
            continue
        row: dict[str, Any] = {c: None for c in COMPARISON_COLUMNS}
        row.update(baseline=b.get("name"), baseline_latency_ms=lat, baseline_val_top1=acc)
        at_latency = [r for r in pool if r["latency_ms"] <= lat]
        if at_latency:
            best = max(at_latency, key=lambda r: (r["val_top1"], -r["latency_ms"]))
            row.update(searched_at_latency=best["number"], searched_latency_ms=best["latency_ms"],
                       searched_val_top1=best["val_top1"], delta_top1=round(best["val_top1"] - acc, 3))
        at_top1 = [r for r in pool if r["val_top1"] >= acc]
        if at_top1:
            fast = min(at_top1, key=lambda r: (r["latency_ms"], -r["val_top1"]))
            row.update(fastest_at_top1=fast["number"], fastest_latency_ms=fast["latency_ms"],
                       fastest_val_top1=fast["val_top1"], latency_ratio=round(fast["latency_ms"] / lat, 3))
        out.append(row)
    return out


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c) for c in columns})
    return buf.getvalue()


def write_report(study: optuna.Study, objs: Sequence[Objective], run_dir: str | Path, *,
                 baselines: Sequence[Mapping[str, Any]] = (),
                 export_front: Callable[[Mapping[str, Any], Path], dict[str, Any]] | None = None,
                 plots: bool = True) -> dict[str, Any]:
    """Write pareto.json/csv, candidates.csv, plots, report.html and the exported front; return the summary.

    ``export_front(row, directory)`` exports one front network (the caller knows where its trained weights
    are) and returns what it wrote."""
    run = Path(run_dir)
    rows = candidate_rows(study)
    front = front_rows(rows, objs)
    rho = spearman_figures(rows)
    hv = hypervolume_curve(rows, objs)
    exported = {}
    if export_front is not None:
        for r in front:
            exported[r["number"]] = export_front(r, run / "front" / f"{r['number']:04d}")
    summary = {
        "study": study.study_name,
        "objectives": [{"name": o.name, "metric": o.metric, "direction": o.direction} for o in objs],
        "constraints": study.user_attrs.get("constraints", []),
        "candidates": len(rows),
        "complete": sum(r["status"] == "complete" for r in rows),
        "pruned": sum(r["status"] == "pruned" for r in rows),
        "infeasible_before_training": sum(r["status"] == "infeasible" for r in rows),
        "feasible": sum(bool(r["feasible"]) for r in rows),
        "spearman": rho,
        "hypervolume": hv[-1][1] if hv else None,
        "front": [{**{k: r.get(k) for k in COLUMNS}, "arch": r["arch"], "exported": exported.get(r["number"])}
                  for r in front],
        "baselines": list(baselines),
        "comparison": equal_latency_rows(rows, baselines),
    }
    write_atomically(run / "pareto.json", (json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n").encode())
    _write_text(run / "pareto.csv", _csv(front, COLUMNS))
    _write_text(run / "candidates.csv", _csv(rows, COLUMNS))
    if summary["comparison"]:
        _write_text(run / "comparison.csv", _csv(summary["comparison"], COMPARISON_COLUMNS))
    if plots:
        from nas.report.plots import write_html, write_plots

        images = write_plots(run, rows, front, objs, hv, baselines, rho)
        write_html(run / "report.html", summary, images)
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """The lines the search prints at its end."""
    rho = summary["spearman"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:+.3f}"

    lines = [f"search '{summary['study']}': {summary['candidates']} candidates ({summary['complete']} complete, "
             f"{summary['pruned']} pruned, {summary['infeasible_before_training']} stopped by a constraint before "
             f"training), {summary['feasible']} feasible, {len(summary['front'])} on the front",
             f"Spearman rho vs measured engine latency over {rho['n']} networks: MACs {f(rho['rho_macs_latency'])}, "
             f"params {f(rho['rho_params_latency'])}, engine arena {f(rho['rho_arena_bytes_latency'])}"]
    for r in summary["front"]:
        acc = r.get("val_top1")
        lines.append(f"  #{r['number']:<4} val top-1 {acc if acc is None else f'{acc:.2f}'}  latency "
                     f"{r.get('latency_ms') or float('nan'):.3f} ms  params {r.get('params')}  MACs {r.get('macs')}")
    for b in summary["baselines"]:
        lines.append(f"  baseline {b.get('name')}: val top-1 {b.get('val_top1')}  latency "
                     f"{b.get('latency_ms') or float('nan'):.3f} ms")
    for c in summary.get("comparison", []):
        same_lat = ("no searched network is as fast" if c["searched_at_latency"] is None else
                    f"#{c['searched_at_latency']} {c['searched_val_top1']:.2f} % at {c['searched_latency_ms']:.3f} ms "
                    f"({c['delta_top1']:+.2f} points)")
        same_acc = ("none as accurate" if c["fastest_at_top1"] is None else
                    f"as accurate: #{c['fastest_at_top1']} at {c['latency_ratio']:.2f}x its latency")
        lines.append(f"  vs {c['baseline']} ({c['baseline_val_top1']:.2f} %, {c['baseline_latency_ms']:.3f} ms): "
                     f"at equal latency {same_lat}; {same_acc}")
    return "\n".join(lines)


def arch_of(row: Mapping[str, Any]) -> Arch:
    return Arch.from_dict(row["arch"])
