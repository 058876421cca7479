"""The Pareto front of model variants (accuracy up, bytes and latency down) and its picture, for notebook 13.

A variant *dominates* another when it is at least as good in every objective and better in one; the front is the set
of variants nothing dominates. Every variant on it is a defensible choice; every other one is beaten outright.

    front = pareto_front(rows, maximise=["accuracy"], minimise=["bytes", "latency_b1_ms"])   # row indices
    fig = tradeoff_figure(rows, front, references=[...])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter


def dominates(a: Mapping[str, float], b: Mapping[str, float], maximise: Sequence[str], minimise: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and strictly better in one."""
    no_worse = all(a[k] >= b[k] for k in maximise) and all(a[k] <= b[k] for k in minimise)
    better = any(a[k] > b[k] for k in maximise) or any(a[k] < b[k] for k in minimise)
    return no_worse and better


def pareto_front(rows: Sequence[Mapping[str, float]], *, maximise: Sequence[str] = (),
                 minimise: Sequence[str] = ()) -> list[int]:  # fmt: skip
    """Indices of the rows no other row dominates, in their order (ties: both stay)."""
    if not maximise and not minimise:
        raise ValueError("name at least one objective to maximise or minimise")
    missing = [k for row in rows for k in (*maximise, *minimise) if k not in row]
    if missing:
        raise KeyError(f"rows lack the objectives {sorted(set(missing))}")
    return [i for i, row in enumerate(rows)
            if not any(dominates(other, row, maximise, minimise) for j, other in enumerate(rows) if j != i)]  # fmt: skip


def tradeoff_figure(rows: Sequence[Mapping[str, Any]], front: Sequence[int], *,
                    references: Sequence[Mapping[str, Any]] = (), title: str = "") -> Figure:  # fmt: skip
    """Two panels: accuracy against file bytes (colour: batch-1 latency) and against batch-1 latency (size: bytes).

    ``rows`` need ``name``, ``accuracy`` (fraction), ``bytes``, ``latency_b1_ms`` and may have ``accuracy_se``; the
    front (indices into ``rows``, computed over all three objectives) is ringed in each panel, and each panel's own
    two-objective front is drawn as a staircase. A third
    panel places ``references`` (``name``, ``bytes_ratio`` = start bytes / variant bytes, ``drop_pp``) beside the
    variants' own ratios, so a paper's compression and this run's share one scale.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    start = rows[0]
    latencies = [r["latency_b1_ms"] for r in rows]
    for ax, x_key, x_label in ((axes[0], "bytes", "file bytes (log)"), (axes[1], "latency_b1_ms", "batch-1 latency, ms (log)")):
        xs = [r[x_key] for r in rows]
        ys = [100 * r["accuracy"] for r in rows]
        errs = [100 * r.get("accuracy_se", 0.0) for r in rows]
        ax.errorbar(xs, ys, yerr=errs, fmt="none", ecolor="grey", elinewidth=0.8, zorder=1)
        if x_key == "bytes":
            points = ax.scatter(xs, ys, c=latencies, cmap="viridis_r", s=40, zorder=2)
            fig.colorbar(points, ax=ax, label="batch-1 latency (ms)")
        else:
            sizes = [20 + 180 * r["bytes"] / max(r["bytes"] for r in rows) for r in rows]
            ax.scatter(xs, ys, s=sizes, color="tab:blue", alpha=0.7, zorder=2)
        panel_front = sorted(pareto_front(rows, maximise=["accuracy"], minimise=[x_key]), key=lambda i: xs[i])
        ax.step([xs[i] for i in panel_front], [ys[i] for i in panel_front], where="post", color="tab:red", lw=1,
                zorder=1, label="front of this panel (accuracy, x)")  # fmt: skip
        ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=140, facecolors="none", edgecolors="tab:red",
                   zorder=3, label="ringed: front of all three (accuracy, bytes, latency)")  # fmt: skip
        for r, x, y in zip(rows, xs, ys, strict=True):
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set(xlabel=x_label, ylabel="test accuracy (%)")
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[2]
    for r in rows[1:]:
        ax.scatter(start["bytes"] / r["bytes"], 100 * (start["accuracy"] - r["accuracy"]), color="tab:blue", s=25)
        ax.annotate(
            r["name"],
            (start["bytes"] / r["bytes"], 100 * (start["accuracy"] - r["accuracy"])),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    for ref in references:
        ax.scatter(ref["bytes_ratio"], ref["drop_pp"], marker="*", s=160, color="tab:orange", zorder=3)
        ax.annotate(
            ref["name"],
            (ref["bytes_ratio"], ref["drop_pp"]),
            fontsize=7,
            xytext=(4, -10),
            textcoords="offset points",
            color="tab:orange",
        )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="bytes: start / variant (log)",
        ylabel="accuracy drop (pp, lower is better)",
        title="against the references (orange)",
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
