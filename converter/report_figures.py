"""The report's figures, drawn with matplotlib (Agg, no display) into PNG bytes.

Each function takes plain data (no Project), so the page (``report_page.py``) decides what is
shown and each figure can be tested alone. Every figure is sized to its content: one
histogram panel per weighted layer, one bar per layer, one rectangle per arena buffer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (shared with the sweep's Pareto plot)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, also without a display
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """``fig`` as PNG bytes (100 dpi, tight), the figure closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class WeightSeries:
    """One weighted layer's weights: float (None when the model came quantized) and the
    quantized ones dequantized (``q * scale``), both flat."""

    layer: str
    float_weights: np.ndarray | None
    quantized: np.ndarray
    bits: int


def weight_histograms(series: Sequence[WeightSeries]) -> bytes:
    """A panel per layer: the float weights' histogram and the dequantized weights' (whose
    bars sit on the quantization levels, zero included: pruning shows as a tall middle bar)."""
    plt = pyplot()
    cols = min(3, max(1, len(series)))
    rows = (len(series) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(series):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, series, strict=False):
        lo = float(min(s.quantized.min(), s.float_weights.min() if s.float_weights is not None
                       else s.quantized.min()))
        hi = float(max(s.quantized.max(), s.float_weights.max() if s.float_weights is not None
                       else s.quantized.max()))
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 61)
        if s.float_weights is not None:
            ax.hist(s.float_weights, bins=bins, color="#8fb3d9", label="float")
        ax.hist(s.quantized, bins=bins, histtype="step", color="#c0392b", linewidth=1.2,
                label=f"int{s.bits} (dequantized)")
        ax.set_title(s.layer, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yscale("log")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("weights before and after quantization", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def sqnr_bars(layers: Sequence[str], weights_db: Sequence[float | None],
              outputs_db: Sequence[float | None]) -> bytes:
    """Per layer: the SQNR (dB) of its weights and of its output, both against float; higher
    is better, 6 dB a bit. A missing value (no float model, no calibration) draws no bar."""
    plt = pyplot()
    y = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(layers) + 1.2))
    for off, vals, color, label in ((-0.2, weights_db, "#8fb3d9", "weights"),
                                    (0.2, outputs_db, "#c0392b", "layer output")):
        v = np.array([np.nan if d is None or not np.isfinite(d) else d for d in vals])
        ax.barh(y + off, v, height=0.38, color=color, label=label)
    ax.set_yticks(y, layers, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("SQNR against float (dB)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)


@dataclass(frozen=True)
class ArenaBlock:
    """One arena buffer: the tensors it holds, its bytes, and the steps it is live."""

    label: str
    offset: int
    size: int
    start: int
    end: int


def memory_timeline(blocks: Sequence[ArenaBlock], steps: Sequence[str], arena: int,
                    lower_bound: int) -> bytes:
    """Arena bytes (y) against steps (x): a rectangle per buffer over the steps it is live,
    the arena's size and the lower bound (the most bytes live at once) as lines."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(steps) + 2), 4))
    colors = plt.get_cmap("tab20")
    for i, b in enumerate(blocks):
        ax.add_patch(Rectangle((b.start - 0.45, b.offset), b.end - b.start + 0.9, b.size,
                               facecolor=colors(i % 20), edgecolor="black", linewidth=0.5))
        if b.size >= 0.06 * max(arena, 1):
            ax.text((b.start + b.end) / 2, b.offset + b.size / 2, b.label, ha="center",
                    va="center", fontsize=6, clip_on=True)
    ax.axhline(arena, color="#c0392b", linewidth=1.2, label=f"arena {arena:,} B")
    ax.axhline(lower_bound, color="#2c3e50", linestyle="--", linewidth=1,
               label=f"lower bound {lower_bound:,} B")
    ax.set_xlim(-0.6, len(steps) - 0.4)
    ax.set_ylim(0, max(arena, lower_bound, 1) * 1.12)
    ax.set_xticks(range(len(steps)), steps, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("arena offset (bytes)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("memory timeline: which tensor holds which arena bytes at each step",
                 fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def instruction_profile(layers: Sequence[str], counts: Sequence[int], unit: str,
                        board: str) -> bytes:
    """Instructions (or cycles) per layer of one inference, in the order the layers run, each
    with its share of the whole."""
    plt = pyplot()
    y = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(layers) + 1.2))
    ax.barh(y, counts, color="#16a085")
    ax.set_yticks(y, layers, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} per inference on {board}")
    total = max(sum(counts), 1)
    for yi, c in zip(y, counts, strict=True):
        ax.text(c, yi, f" {100 * c / total:.0f}%", va="center", fontsize=6)
    fig.tight_layout()
    return png_bytes(fig)


def spikes_per_step(layers: Sequence[str], spikes: Sequence[np.ndarray]) -> bytes:
    """A line per spiking layer: spikes emitted at each time step (mean over the inputs)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, s in zip(layers, spikes, strict=True):
        ax.plot(np.arange(len(s)), s, marker=".", label=name)
    ax.set_xlabel("time step")
    ax.set_ylabel("spikes per step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)
