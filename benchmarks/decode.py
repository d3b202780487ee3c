"""Decoding speed on CPU: genrec's trie-constrained beam search vs transformers' generate with
prefix_allowed_tokens_fn (the path LETTER, LC-Rec, OpenP5 and torch-rechub take).

    pip install -e '.[bench]'   # transformers
    python benchmarks/decode.py [--index runs/beauty/index] [--batches 1 64] [--threads 1]

Same model sizes on both sides (TIGER: d_model 128, 4 + 4 layers, 6 heads of 64, d_ff 1024),
random weights, the same trie, beam 20, top-10, random histories of 20 items. Per batch size:
  genrec                 Recommender.recommend (encoder + cached decoder + constrained search,
                         the history excluded);
  genrec_unconstrained   the same without the trie (constraint overhead = the difference);
  genrec_item_level      the same sizes with genrec's item-level encoder (one position per
                         history item instead of one per token: 20 instead of 80 here);
  transformers           T5ForConditionalGeneration.generate(num_beams, prefix_allowed_tokens_fn)
                         walking a nested-dict prefix tree of the same tuples;
  transformers_unconstrained   the same generate without prefix_allowed_tokens_fn.
Also times each encoder alone (the decode-only speed-up leaves it out on both sides) and, for
genrec, the seconds inside the trie steps (constraint_share; constraint_share_difference is
constrained minus unconstrained, which run-to-run noise swamps). Without --index the codes
are random tuples of Beauty's size (12,101 items, 3 x 256 + disambiguation).
Writes benchmarks/results/decode.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genrec.decode import beam as beam_module
from genrec.io import progress, write_json
from genrec.model import TIGER_PRESET, GenerativeRecommender, ModelConfig
from genrec.model.batches import pad_histories
from genrec.model.recommender import Recommender
from genrec.semantic_ids import SemanticIndex

sys.path.insert(0, str(Path(__file__).parent))
from common import hardware, latency_stats, tiger_codes, timed  # noqa: E402

BEAUTY_ITEMS = 12_101
SPECIALS = 2  # T5 ids 0 (pad = decoder start) and 1 (eos); code tokens follow


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    index = _load_index(args.index)
    rec = Recommender(_genrec_model(index), index, beam=args.beam)
    # genrec's own encoder design at the same sizes: one position per history item
    rec_items = Recommender(_genrec_model(index, token_inputs=False), index, beam=args.beam)
    t5 = _T5Path(index, args.beam, args.k)
    rng = np.random.default_rng(0)
    load_start = hardware()["load_average_1min"]
    results = {}
    for b in args.batches:
        rounds = max(args.repeat, -(-args.min_users // b))
        sizes = [min(b, 8)] + [b] * rounds  # a small warm-up batch: same code paths
        batches = [rng.integers(0, index.n_items, (n, args.history)) for n in sizes]
        results[f"batch_{b}"] = _measure((rec, rec_items), t5, batches, args.k,
                                         not args.keep_history)
        results[f"batch_{b}"] |= _ratios(results[f"batch_{b}"])
    report = {
        "command": " ".join(["python benchmarks/decode.py", *sys.argv[1:]]),
        "hardware": hardware() | {"transformers": _transformers_version(),
                                  "load_average_1min_start": load_start},
        "setup": _setup(args, index, rec, t5),
        **_headline(results, args.batches),
        **results,
    }
    write_json(args.out, report)
    print(_table(report, args.batches))


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", help="a SemanticIndex folder (default: random Beauty-size codes)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--history", type=int, default=20, help="items per random history")
    ap.add_argument("--repeat", type=int, default=4, help="timed batches per batch size (min)")
    ap.add_argument("--min-users", type=int, default=32, help="timed users per batch size (min)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    ap.add_argument("--keep-history", action="store_true", help="genrec: don't exclude history")
    ap.add_argument("--out", default="benchmarks/results/decode.json")
    return ap.parse_args()


def _load_index(folder: str | None) -> SemanticIndex:
    if folder:
        return SemanticIndex.load(folder)
    codes = tiger_codes(BEAUTY_ITEMS)
    sizes = [256, 256, 256, int(codes[:, -1].max()) + 1]
    return SemanticIndex(method="random", codes=codes, level_sizes=sizes,
                         item_ids=[str(i) for i in range(len(codes))], codebook_size=256)


def _genrec_model(index: SemanticIndex, token_inputs: bool = True) -> GenerativeRecommender:
    sizes = TIGER_PRESET | {"token_inputs": token_inputs}
    cfg = ModelConfig(level_sizes=index.level_sizes, n_items=index.n_items, **sizes)
    return GenerativeRecommender(cfg).eval()


class _T5Path:
    """transformers' constrained generation over the same tuples: token = SPECIALS + level
    offset + code; a nested-dict trie answers prefix_allowed_tokens_fn (as GENRE's Trie)."""

    def __init__(self, index: SemanticIndex, beam: int, k: int) -> None:
        try:
            from transformers import T5Config, T5ForConditionalGeneration
        except ImportError as e:
            raise SystemExit("the baseline needs transformers: pip install -e '.[bench]'") from e

        sizes = index.level_sizes
        self.offsets = SPECIALS + np.cumsum([0, *sizes[:-1]])  # [L]
        self.tokens = index.codes + self.offsets  # [N, L] T5 token ids of every item
        self.trie: dict[int, dict] = {}
        for row in self.tokens.tolist():
            node = self.trie
            for tok in row:
                node = node.setdefault(tok, {})
        cfg = T5Config(vocab_size=SPECIALS + sum(sizes), d_model=128, d_kv=64, d_ff=1024,
                       num_layers=4, num_decoder_layers=4, num_heads=6, pad_token_id=0,
                       eos_token_id=1, decoder_start_token_id=0)
        self.model = T5ForConditionalGeneration(cfg).eval()
        self.beam, self.k, self.levels = beam, k, len(sizes)

    def allowed(self, batch_id: int, sent: torch.Tensor) -> list[int]:
        node = self.trie
        for tok in sent.tolist()[1:]:  # sent[0] is the decoder start token
            node = node[tok]
        return list(node)

    def inputs(self, histories: np.ndarray) -> dict[str, torch.Tensor]:
        ids = torch.from_numpy(self.tokens[histories].reshape(len(histories), -1))  # [B, T*L]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    @torch.no_grad()
    def generate(self, histories: np.ndarray, constrained: bool = True) -> torch.Tensor:
        """Top-k token tuples [B, k, L] for item histories [B, T]."""
        out = self.model.generate(**self.inputs(histories), num_beams=self.beam,
                                  num_return_sequences=self.k, max_new_tokens=self.levels,
                                  prefix_allowed_tokens_fn=self.allowed if constrained else None,
                                  do_sample=False)
        return out[:, 1:].reshape(len(histories), self.k, self.levels)

    @torch.no_grad()
    def encode(self, histories: np.ndarray) -> None:
        self.model.get_encoder()(**self.inputs(histories))


@contextmanager
def _trie_timer() -> Iterator[list[float]]:
    """Seconds spent in beam_search's trie work: candidate expansion (with exclusion counts)
    and exclusion-list preparation, less the log-softmax inside the expansion, which search
    without the trie does alike. Measured by wrapping those module functions."""
    spent = {"_trie_candidates": 0.0, "_exclusions": 0.0, "_log_norm": 0.0}
    saved = {name: getattr(beam_module, name) for name in spent}

    def wrap(name: str) -> Callable:
        def timed_fn(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return saved[name](*a, **kw)
            finally:
                spent[name] += time.perf_counter() - t0
        return timed_fn

    for name in spent:
        setattr(beam_module, name, wrap(name))
    out = [0.0]
    try:
        yield out
    finally:
        for name, fn in saved.items():
            setattr(beam_module, name, fn)
        out[0] = spent["_trie_candidates"] + spent["_exclusions"] - spent["_log_norm"]


def _measure(recs: tuple[Recommender, Recommender], t5: _T5Path, batches: list[np.ndarray],
             k: int, exclude_history: bool) -> dict[str, Any]:
    """Per-call wall times of every system over the same batches (the first is warm-up),
    systems interleaved so that load from other jobs hits all of them alike."""
    b = len(batches[-1])
    wall: dict[str, list[float]] = {n: [] for n in _SYSTEMS}
    cpu: dict[str, list[float]] = {n: [] for n in _SYSTEMS}
    trie = []
    for i, hist in enumerate(progress(batches, desc=f"batch {b}")):
        calls = _calls(recs, t5, hist, k, exclude_history)
        names = list(calls)
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate who goes first
        for name in order:
            if name == "genrec":
                with _trie_timer() as spent:
                    w, c = timed(calls[name])
                share = spent[0]
            else:
                w, c = timed(calls[name])
            if i:  # batch 0 is warm-up
                wall[name].append(w)
                cpu[name].append(c)
                if name == "genrec":
                    trie.append(share)
    out: dict[str, Any] = {n: latency_stats(wall[n], b) | {"cpu_p50_ms": _ms(cpu[n])}
                           for n in _SYSTEMS}
    out["rounds"] = len(batches) - 1
    out["trie_p50_ms"] = _ms(trie)
    return out


def _calls(recs: tuple[Recommender, Recommender], t5: _T5Path, hist: np.ndarray, k: int,
           exclude_history: bool) -> dict[str, Callable[[], object]]:
    """One batch of histories [B, T] for every system."""
    rec, rec_items = recs
    lists = list(hist)
    excl = [h.tolist() for h in hist] if exclude_history else None
    return {
        "genrec": partial(rec.recommend, lists, k, exclude=excl),
        "genrec_unconstrained": partial(rec.recommend, lists, k, constrained=False),
        "genrec_encoder": partial(_genrec_encode, rec, lists),
        "genrec_item_level": partial(rec_items.recommend, lists, k, exclude=excl),
        "transformers": partial(_check_t5, t5, hist),
        "transformers_unconstrained": partial(t5.generate, hist, constrained=False),
        "transformers_encoder": partial(t5.encode, hist),
    }


_SYSTEMS = ("genrec", "genrec_unconstrained", "genrec_encoder", "genrec_item_level",
            "transformers",
            "transformers_unconstrained", "transformers_encoder")


def _ms(seconds: list[float]) -> float:
    return round(1e3 * float(np.median(seconds)), 2)


@torch.no_grad()
def _genrec_encode(rec: Recommender, histories: list[np.ndarray]) -> None:
    items = pad_histories(histories, rec.model.cfg.max_items)
    rec.model.encode(items, rec.codes[items.clamp(min=0)])


def _check_t5(t5: _T5Path, hist: np.ndarray) -> None:
    tuples = t5.generate(hist).numpy()  # every returned tuple must be an item's
    node_ok = all(_in_trie(t5.trie, row) for row in tuples.reshape(-1, tuples.shape[-1]))
    if not node_ok:
        raise RuntimeError("transformers returned a tuple outside the trie")


def _in_trie(trie: dict, row: np.ndarray) -> bool:
    node = trie
    for tok in row.tolist():
        if tok not in node:
            return False
        node = node[tok]
    return True


def _setup(args: argparse.Namespace, index: SemanticIndex, rec: Recommender, t5: _T5Path
           ) -> dict[str, Any]:
    return {
        "index": {"source": args.index or f"random codes, {BEAUTY_ITEMS} items",
                  "n_items": index.n_items, "level_sizes": index.level_sizes},
        "beam": args.beam, "k": args.k, "history_items": args.history,
        "genrec_excludes_history": not args.keep_history,
        "params": {"genrec": rec.model.n_params(),
                   "transformers": sum(p.numel() for p in t5.model.parameters())},
    }


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def _ratios(r: dict[str, Any]) -> dict[str, float]:
    """Speed-ups over transformers (wall p50; also on CPU time, which load disturbs less) and
    the constraint's share of each side's time."""
    def speedup(key: str, minus_encoder: bool = False) -> float:
        hf, gr = r["transformers"][key], r["genrec"][key]
        if minus_encoder:
            hf, gr = hf - r["transformers_encoder"][key], gr - r["genrec_encoder"][key]
        return round(hf / gr, 2)

    gr, hf = r["genrec"]["p50_ms"], r["transformers"]["p50_ms"]
    return {
        "speedup_vs_transformers": speedup("p50_ms"),
        "speedup_vs_transformers_cpu": speedup("cpu_p50_ms"),
        "speedup_vs_transformers_decode_only": speedup("p50_ms", minus_encoder=True),
        "speedup_vs_transformers_item_level":
            round(hf / r["genrec_item_level"]["p50_ms"], 2),
        # Time inside the trie steps: an upper bound (they also gather the candidates'
        # log-probabilities, which unconstrained search does too) that noise can't flip.
        "constraint_share": round(r["trie_p50_ms"] / gr, 4),
        # Constrained minus unconstrained: below the run-to-run noise, and unconstrained
        # search scores more candidates (beams x V instead of beams x children).
        "constraint_share_difference":
            round((gr - r["genrec_unconstrained"]["p50_ms"]) / gr, 4),
        "transformers_constraint_share":
            round((hf - r["transformers_unconstrained"]["p50_ms"]) / hf, 4),
    }


def _headline(results: dict[str, dict[str, Any]], batches: list[int]) -> dict[str, float]:
    """Every ratio per batch size (key_b<B>); constraint_share at the largest batch."""
    out = {f"{key}_b{b}": results[f"batch_{b}"][key]
           for key in ("speedup_vs_transformers", "speedup_vs_transformers_cpu",
                       "speedup_vs_transformers_decode_only",
                       "speedup_vs_transformers_item_level", "constraint_share",
                       "constraint_share_difference", "transformers_constraint_share")
           for b in batches}
    head = results[f"batch_{max(batches)}"]
    return out | {"constraint_share": head["constraint_share"],
                  "constraint_share_difference": head["constraint_share_difference"]}


def _table(report: dict[str, Any], batches: list[int]) -> str:
    lines = [f"{'batch':>5}  {'system':<27} {'users/s':>8} {'p50 ms':>9} {'p99 ms':>9} "
             f"{'cpu ms':>9}"]
    for b in batches:
        r = report[f"batch_{b}"]
        for name in _SYSTEMS:
            s = r[name]
            lines.append(f"{b:>5}  {name:<27} {s['users_per_s']:>8.1f} {s['p50_ms']:>9.1f} "
                         f"{s['p99_ms']:>9.1f} {s['cpu_p50_ms']:>9.1f}")
        lines.append(f"       speed-up {r['speedup_vs_transformers']}x (cpu "
                     f"{r['speedup_vs_transformers_cpu']}x, decode only "
                     f"{r['speedup_vs_transformers_decode_only']}x, item-level encoder "
                     f"{r['speedup_vs_transformers_item_level']}x); constraint share "
                     f"{r['constraint_share']:.2%} (difference "
                     f"{r['constraint_share_difference']:.2%}; "
                     f"transformers {r['transformers_constraint_share']:.2%})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
