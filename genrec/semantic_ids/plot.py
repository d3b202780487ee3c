"""PNG of an index: per-level codebook usage and how many items share each code."""

from __future__ import annotations

from pathlib import Path

from genrec.io import atomic_path
from genrec.semantic_ids.index import SemanticIndex


def plot_index(index: SemanticIndex, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_use, ax_hist) = plt.subplots(1, 2, figsize=(10, 3.6))
    usage = index.stats["usage"]
    ax_use.bar(range(len(usage)), usage, color="#4c72b0")
    ax_use.set_xticks(range(len(usage)), [f"L{i + 1}" for i in range(len(usage))])
    ax_use.axhline(0.8, color="grey", ls="--", lw=1)
    ax_use.set_ylim(0, 1.05)
    ax_use.set_ylabel("share of codes used")
    ax_use.set_title(f"{index.method}: codebook usage per level")
    hist = index.stats["items_per_code_hist"]
    sizes = [s for s in range(1, len(hist)) if hist[s]]
    # positions, not number-like strings: those trigger matplotlib's "categorical units" log
    ax_hist.bar(range(len(sizes)), [hist[s] for s in sizes], color="#dd8452")
    ax_hist.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax_hist.set_yscale("log")
    ax_hist.set_xlabel("items sharing one code (before disambiguation)")
    ax_hist.set_ylabel("codes")
    ax_hist.set_title(f"collision rate {index.stats['collision_rate']:.3f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
