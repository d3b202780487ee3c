"""One entry point for every ID scheme: item vectors / titles -> SemanticIndex."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genrec.chunked import Rows, sample_rows
from genrec.semantic_ids.balance import balanced_last_level
from genrec.semantic_ids.hkmeans import hierarchical_codes
from genrec.semantic_ids.index import SemanticIndex, code_stats, disambiguate
from genrec.semantic_ids.rkmeans import ResidualKMeans
from genrec.semantic_ids.rqvae import RQVAE, RQVAEConfig, train_rqvae
from genrec.semantic_ids.title import title_codes

METHODS = ("rqvae", "rkmeans", "hkmeans", "title", "random")


@dataclass
class IndexConfig:
    method: str = "rqvae"  # one of METHODS
    levels: int | None = None  # levels before the disambiguation token (default 3; hkmeans 2)
    codebook_size: int | None = None  # K per level (default 256; hkmeans branching 64)
    balance: bool = False  # collision-aware last level (rqvae, rkmeans)
    seed: int = 0
    rqvae_epochs: int = 150  # RQ-VAE passes over the items
    title_words: int = 4  # title IDs: words kept before <eos>
    fit_sample: int = 0  # >0: fit the quantizer (rqvae, rkmeans) on this many random items,
    # then code every item chunk by chunk; for catalogues too large to fit on whole

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.balance and self.method not in ("rqvae", "rkmeans"):
            raise ValueError(f"--balance applies to rqvae and rkmeans, not {self.method!r}")
        hier = self.method == "hkmeans"
        # `is None`, not `or`: an explicit 0 is an error below, not the default
        self.levels = (2 if hier else 3) if self.levels is None else self.levels
        self.codebook_size = (64 if hier else 256) if self.codebook_size is None \
            else self.codebook_size
        if self.levels < 1 or self.codebook_size < 2:
            raise ValueError(f"need levels >= 1 and codebook_size >= 2, got "
                             f"{self.levels} and {self.codebook_size}")
        if self.fit_sample < 0 or 0 < self.fit_sample < self.codebook_size:
            raise ValueError(f"fit_sample must be 0 (all items) or >= codebook_size "
                             f"({self.codebook_size}), got {self.fit_sample}")


def fit_to_catalogue(cfg: IndexConfig, n_items: int) -> tuple[IndexConfig, str | None]:
    """cfg with a codebook the catalogue can fill: k-means (rkmeans, rqvae's init) needs at
    least K points per level, and K near n leaves most codes with one item. A K above half
    the items fitted becomes the largest power of two <= a quarter of them (at least 2);
    the note says what changed and which key sets it."""
    if cfg.method not in ("rqvae", "rkmeans"):
        return cfg, None  # hkmeans gives small groups one child each; title/random need none
    rows = min(cfg.fit_sample or n_items, n_items)
    if cfg.codebook_size * 2 <= rows:
        return cfg, None
    size = max(2, 1 << max(1, (rows // 4).bit_length() - 1))
    if size * 2 > rows and size > 2:
        size //= 2
    if rows < 2 * size:
        raise ValueError(f"{n_items} items are too few for semantic IDs by {cfg.method}; "
                         "use [index] method = \"random\" or \"hkmeans\"")
    note = (f"index: {rows} items cannot fill {cfg.codebook_size} codes per level; using "
            f"codebook_size = {size} (set [index] codebook_size or --codebook-size to choose)")
    return replace(cfg, codebook_size=size), note


def build_index(
    cfg: IndexConfig,
    item_ids: list[str],
    vectors: Rows | None = None,
    titles: list[str] | None = None,
    out: str | Path | None = None,
) -> SemanticIndex:
    """Codes for every item. `vectors` [n, d] feed the quantizers, `titles` the title scheme.

    With `out`, the frozen quantizer (rqvae, rkmeans) is saved there too, so new items can be
    coded later without retraining. `vectors` may be an NpyRows file on disk: rqvae and
    rkmeans then read it in chunks (fit on cfg.fit_sample items, code all chunk by chunk).
    """
    start = time.perf_counter()
    raw, order_key, extra = _raw_codes(cfg, len(item_ids), vectors, titles, out)
    codes = disambiguate(raw, order_key)
    level_sizes = extra.pop("level_sizes") + [int(codes[:, -1].max()) + 1]
    codebook_sizes = level_sizes[:-1]
    stats = code_stats(codes, codebook_sizes) | extra.pop("timing", {})
    stats["seconds"] = round(time.perf_counter() - start, 2)
    return SemanticIndex(
        method=cfg.method,
        codes=codes,
        level_sizes=level_sizes,
        item_ids=list(item_ids),
        codebook_size=max(codebook_sizes) if cfg.method == "title" else cfg.codebook_size,
        config=asdict(cfg) | extra.pop("config", {}),
        stats=stats,
        **extra,
    )


def _need(x: Any, what: str, method: str) -> Any:
    if x is None:
        raise ValueError(f"method {method!r} needs {what}")
    return x


def _raw_codes(
    cfg: IndexConfig,
    n: int,
    vectors: Rows | None,
    titles: list[str] | None,
    out: str | Path | None,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Codes before disambiguation [n, L0], the in-group order key, and layout extras."""
    sizes = [cfg.codebook_size] * cfg.levels
    if cfg.method == "random":
        rng = np.random.default_rng(cfg.seed)
        codes = rng.integers(0, cfg.codebook_size, size=(n, cfg.levels))
        return codes, None, {"level_sizes": sizes}
    if cfg.method == "title":
        codes, vocab = title_codes(_need(titles, "item titles", "title"), cfg.title_words)
        extra = {"level_sizes": [len(vocab)] * codes.shape[1], "vocab": vocab, "shared_vocab": True}
        return codes, None, extra
    x = _need(vectors, "item vectors", cfg.method)
    if len(x) != n:
        raise ValueError(f"{len(x)} item vectors for {n} items")
    if cfg.method == "hkmeans":
        codes, dist = hierarchical_codes(np.asarray(x), cfg.levels, cfg.codebook_size, cfg.seed)
        return codes, dist, {"level_sizes": sizes}
    start = time.perf_counter()
    quantizer, extra = _fit_quantizer(cfg, sample_rows(x, cfg.fit_sample, cfg.seed))
    fitted = time.perf_counter()
    if cfg.balance:  # needs every item's distances to the last codebook: n x K floats
        codes, cost = quantizer.encode_with_cost(x)
        codes[:, -1] = balanced_last_level(codes[:, :-1], cost)
    else:
        codes = quantizer.encode(x)
    timing = {"fit_seconds": round(fitted - start, 2),
              "assign_seconds": round(time.perf_counter() - fitted, 2)}
    if out is not None:
        quantizer.save(Path(out) / "quantizer.safetensors")
    return codes, None, {"level_sizes": sizes, "timing": timing, **extra}


def _fit_quantizer(cfg: IndexConfig, x: np.ndarray) -> tuple[Any, dict[str, Any]]:
    if cfg.method == "rkmeans":
        return ResidualKMeans.fit(x, cfg.levels, cfg.codebook_size, cfg.seed), {}
    rq_cfg = RQVAEConfig(
        input_dim=x.shape[1],
        levels=cfg.levels,
        codebook_size=cfg.codebook_size,
        epochs=cfg.rqvae_epochs,
        seed=cfg.seed,
    )
    model, curve = train_rqvae(x, rq_cfg)
    return model, {"config": {"rqvae_loss_curve": [round(v, 5) for v in curve]}}


def load_quantizer(run_index_dir: str | Path, method: str) -> RQVAE | ResidualKMeans:
    """The frozen quantizer saved beside an index (for coding new items)."""
    path = Path(run_index_dir) / "quantizer.safetensors"
    return RQVAE.load(path) if method == "rqvae" else ResidualKMeans.load(path)
