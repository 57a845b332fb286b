"""The search report's figures (matplotlib, Agg) and its HTML page."""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from export.atomic import write_atomically
from nas.objectives import Objective


def _save(fig: Any, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomically(path, buf.getvalue())
    return path.name


def write_plots(run: Path, rows: Sequence[Mapping[str, Any]], front: Sequence[Mapping[str, Any]],
                objs: Sequence[Objective], hv: Sequence[tuple[int, float]],
                baselines: Sequence[Mapping[str, Any]], rho: Mapping[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    done = [r for r in rows if r.get("val_top1") is not None and r.get("latency_ms") is not None]
    if done or baselines:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ok = [r for r in done if r["feasible"]]
        bad = [r for r in done if not r["feasible"]]
        ax.scatter([r["latency_ms"] for r in ok], [r["val_top1"] for r in ok], s=14, c="tab:blue", alpha=0.5,
                   label="candidates")
        if bad:
            ax.scatter([r["latency_ms"] for r in bad], [r["val_top1"] for r in bad], s=14, c="tab:gray",
                       alpha=0.5, marker="x", label="infeasible / pruned")
        fr = sorted((r for r in front if r.get("val_top1") is not None and r.get("latency_ms") is not None),
                    key=lambda r: r["latency_ms"])
        if fr:
            ax.step([r["latency_ms"] for r in fr], [r["val_top1"] for r in fr], where="post", c="tab:red",
                    marker="o", label="Pareto front")
        for b in baselines:
            if b.get("latency_ms") is not None and b.get("val_top1") is not None:
                ax.scatter([b["latency_ms"]], [b["val_top1"]], marker="*", s=120, c="tab:green")
                ax.annotate(str(b.get("name")), (b["latency_ms"], b["val_top1"]), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        if baselines:
            ax.scatter([], [], marker="*", s=120, c="tab:green", label="zoo (same training proxy)")
        ax.set_xlabel("engine latency (ms, measured)")
        ax.set_ylabel("validation top-1 (%)")
        ax.set_title("accuracy vs engine latency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        images.append(_save(fig, run / "pareto.png"))
        plt.close(fig)
    if hv:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot([n for n, _ in hv], [v for _, v in hv], c="tab:purple")
        ax.set_xlabel("trial")
        ax.set_ylabel("hypervolume")
        ax.set_title("hypervolume of the feasible front (" + " / ".join(o.name for o in objs) + ")")
        ax.grid(alpha=0.3)
        images.append(_save(fig, run / "hypervolume.png"))
        plt.close(fig)
    measured = [r for r in rows if r.get("latency_ms") is not None and r.get("macs") is not None]
    if measured:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((axes[0], "macs", "MACs"), (axes[1], "params", "params")):
            pts = [(r[key], r["latency_ms"]) for r in measured if r.get(key) is not None]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, alpha=0.6)
            value = rho.get(f"rho_{key}_latency")
            ax.set_title(f"latency vs {label} (Spearman rho = {'n/a' if value is None else f'{value:.3f}'})")
            ax.set_xlabel(label)
            ax.set_ylabel("engine latency (ms)")
            ax.grid(alpha=0.3)
        images.append(_save(fig, run / "latency_vs_flops.png"))
        plt.close(fig)
    return images


def write_html(path: Path, summary: Mapping[str, Any], images: Sequence[str]) -> None:
    esc = html.escape
    rho = summary["spearman"]
    cols = ["number", "val_top1", "latency_ms", "arena_bytes", "params", "macs", "exported"]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in summary["front"])
    base = "".join(f"<tr><td>{esc(str(b.get('name')))}</td><td>{esc(_cell(b.get('val_top1')))}</td>"
                   f"<td>{esc(_cell(b.get('latency_ms')))}</td><td>{esc(_cell(b.get('params')))}</td></tr>"
                   for b in summary["baselines"])
    base_table = ("<h2>Zoo baselines (same training proxy)</h2><table><tr><th>model</th><th>val_top1</th>"
                  f"<th>latency_ms</th><th>params</th></tr>{base}</table>") if base else ""
    comparison = summary.get("comparison", [])
    if comparison:
        ccols = list(comparison[0])
        chead = "".join(f"<th>{esc(c)}</th>" for c in ccols)
        cbody = "".join("<tr>" + "".join(f"<td>{esc(_cell(r.get(c)))}</td>" for c in ccols) + "</tr>"
                        for r in comparison)
        base_table += ("<h2>Searched vs zoo at equal engine latency</h2><p>searched_at_latency: the most accurate "
                       "complete candidate no slower than the baseline; fastest_at_top1: the fastest at least as "
                       f"accurate (latency_ratio = its latency / the baseline's).</p><table><tr>{chead}</tr>"
                       f"{cbody}</table>")
    text = f"""<!doctype html><html><head><meta charset="utf-8"><title>search {esc(summary['study'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>Architecture search: {esc(summary['study'])}</h1>
<p>{summary['candidates']} candidates: {summary['complete']} complete, {summary['pruned']} pruned,
{summary['infeasible_before_training']} stopped by a constraint before training; {summary['feasible']} feasible.
Objectives: {esc(', '.join(o['name'] + ' (' + o['direction'] + ')' for o in summary['objectives']))}.
Constraints: {esc(', '.join(summary['constraints']) or 'none')}.</p>
<p>Spearman rho against measured engine latency over {rho['n']} networks: MACs {esc(_cell(rho['rho_macs_latency']))},
params {esc(_cell(rho['rho_params_latency']))}, engine arena {esc(_cell(rho['rho_arena_bytes_latency']))}.</p>
<h2>Pareto front</h2><table><tr>{head}</tr>{body}</table>
{base_table}
{''.join(f'<p><img src="{esc(i)}" alt="{esc(i)}"></p>' for i in images)}
<p>Interactive: <code>pip install optuna-dashboard</code>, then <code>optuna-dashboard sqlite:///{esc(str(path.parent.resolve()))}/study.db</code>.</p>
</body></html>
"""
    write_atomically(path, text.encode("utf-8"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)
