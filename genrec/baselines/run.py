"""`genrec baseline`: SASRec and popularity on the same split, history rule and metric module
as genrec's generative model, writing the same metrics.json.

    out/config.json        the BaselineConfig, saved first
    out/checkpoint/        last SASRec training state (resume after a kill)
    out/model.safetensors  best SASRec by validation NDCG@10 (+ model.json)
    out/item_vectors.npy   its item embeddings [N, d], usable as `genrec index --vectors`
    out/history.json, out/curve.png, out/metrics.json
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genrec.baselines.popularity import Popularity
from genrec.baselines.sasrec import SASRec, SASRecConfig, iterate_batches, training_pairs
from genrec.data import Dataset, Split
from genrec.evaluate import evaluate
from genrec.io import is_quiet, read_json, write_json, write_npy
from genrec.model.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_model
from genrec.model.train import TrainConfig, lr_at, make_optimizer

BASELINES = ("sasrec", "popularity")


@dataclass
class BaselineConfig:
    dataset: str = "amazon2014-beauty"  # benchmark name or raw Amazon folder
    model: SASRecConfig = field(default_factory=SASRecConfig)  # SASRec only
    train: TrainConfig = field(default_factory=TrainConfig)  # SASRec only (beam is unused)
    exclude_history: bool = True  # never recommend an item already in the history
    threads: int = 0  # torch CPU threads (0 = torch default)
    max_users: int = 0  # >0: keep only the first N users (quick runs and tests)

    @classmethod
    def from_toml(cls, path: str | Path, name: str = "sasrec") -> BaselineConfig:
        """Popularity reads only the data and eval settings, so any run config serves it."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: {err}") from None
        if name == "popularity":
            raw = {k: v for k, v in raw.items() if k in ("dataset", "max_users", "eval")}
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> BaselineConfig:
        def build(kind: type, section: str) -> Any:
            values = dict(raw.get(section, {}))
            known = {f.name for f in fields(kind)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise ValueError(f"{where}: [{section}] has unknown keys {unknown}; "
                                 f"known: {sorted(known)}")
            return kind(**values)

        top = {k: v for k, v in raw.items() if k not in ("model", "train", "eval")}
        unknown = sorted(set(top) - {"dataset", "threads", "max_users"})
        if unknown:
            raise ValueError(f"{where}: unknown top-level keys {unknown}")
        exclude = raw.get("eval", {}).get("exclude_history", True)
        return cls(**top, model=build(SASRecConfig, "model"), train=build(TrainConfig, "train"),
                   exclude_history=bool(exclude))


def run_baseline(name: str, cfg: BaselineConfig, data_dir: str | Path | None, out: str | Path,
                 resume: bool = True) -> dict[str, Any]:
    """Train (SASRec) or count (popularity), then test metrics -> out/metrics.json."""
    from genrec.run import load_run_dataset

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    write_json(out / "config.json", {"baseline": name, **asdict(cfg)})
    ds = load_run_dataset(cfg, data_dir)  # type: ignore[arg-type]  # same dataset/max_users
    split = ds.split()
    if name == "popularity":
        fn = Popularity(split.train, ds.n_items).recommend_fn(cfg.exclude_history)
    else:
        model = train_sasrec(cfg, ds, split, out, resume)
        fn = sasrec_fn(model, cfg.exclude_history)
    metrics, _ = evaluate(fn, split.test_history, split.test_target, desc="evaluate test")
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    metrics |= {"invalid_rate": 0.0, "beam": None, "exclude_history": cfg.exclude_history,
                "split": "test", "model": name,
                "pipeline_seconds": round(time.perf_counter() - start, 1)}
    write_json(out / "metrics.json", metrics)
    return metrics


def sasrec_fn(model: SASRec, exclude_history: bool):
    """(histories, users, k) -> top-k [B, k] for genrec.evaluate.evaluate."""
    model.eval()
    return lambda histories, users, k: model.top_k(histories, k, exclude_history)


def train_sasrec(cfg: BaselineConfig, ds: Dataset, split: Split, out: Path, resume: bool
                 ) -> SASRec:
    """Full-softmax SASRec; model selection on full-validation NDCG@10; resumable."""
    torch.manual_seed(cfg.train.seed)
    mcfg = SASRecConfig(**{**asdict(cfg.model), "n_items": ds.n_items})
    model = SASRec(mcfg)
    opt = make_optimizer(model, cfg.train)
    loop = _Loop(model, opt, cfg.train, training_pairs(split.train, mcfg.max_len), out)
    if resume:
        loop.resume()
    loop.fit(split)
    best = SASRec(mcfg)
    best.load_state_dict(load_weights(out / "model.safetensors"))
    write_npy(out / "item_vectors.npy", best.item_vectors().detach().numpy())
    return best.eval()


class _Loop:
    """Epoch loop with validation, early stopping, a time budget and per-epoch checkpoints."""

    def __init__(self, model: SASRec, opt: torch.optim.Optimizer, cfg: TrainConfig,
                 seqs: list[np.ndarray], out: Path) -> None:
        self.model, self.opt, self.cfg, self.seqs, self.out = model, opt, cfg, seqs, out
        self.gen = torch.Generator().manual_seed(cfg.seed)
        steps = -(-len(seqs) // cfg.batch_size)
        self.total_steps = cfg.epochs * steps
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "elapsed": 0.0, "best_ndcg": -1.0,
                                      "bad_evals": 0, "history": []}

    def resume(self) -> None:
        loaded = load_checkpoint(self.out / "checkpoint", self.model, self.opt)
        if loaded is not None:
            self.state, rng = loaded
            self.gen.set_state(rng["gen"])
            torch.set_rng_state(rng["torch"])
            print(f"resumed from {self.out / 'checkpoint'} at epoch {self.state['epoch']}",
                  flush=True)

    def fit(self, split: Split) -> None:
        s, budget = self.state, self.cfg.max_minutes * 60
        while s["epoch"] < self.cfg.epochs and not (budget and s["elapsed"] > budget):
            t0 = time.perf_counter()
            loss = self._epoch(budget)
            s["epoch"] += 1
            stop = False
            if s["epoch"] % self.cfg.eval_every == 0 or s["epoch"] == self.cfg.epochs:
                stop = self._validate(split, loss)
            s["elapsed"] += time.perf_counter() - t0
            rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
            save_checkpoint(self.out / "checkpoint", self.model, self.opt, s, rng)
            if stop:
                break
        if not s["history"] or s["history"][-1]["epoch"] != s["epoch"]:
            self._validate(split, float("nan"))  # stopped by the budget between validations
        from genrec.run import plot_curve

        plot_curve(s["history"], self.out / "curve.png")

    def _epoch(self, budget: float) -> float:
        from tqdm.auto import tqdm

        self.model.train()
        batches = iterate_batches(self.seqs, self.cfg.batch_size, self.gen)
        total, t0 = 0.0, time.perf_counter()
        bar = tqdm(batches, desc=f"sasrec epoch {self.state['epoch'] + 1}", leave=False,
                   disable=is_quiet())
        for tokens, targets in bar:
            done = self.state["step"] / max(1, self.total_steps)
            if budget:
                done = max(done, (self.state["elapsed"] + time.perf_counter() - t0) / budget)
            for group in self.opt.param_groups:
                group["lr"] = lr_at(done, self.state["step"], self.cfg)
            loss = self.model.loss(tokens, targets)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.opt.step()
            self.state["step"] += 1
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        return total / max(1, len(batches))

    def _validate(self, split: Split, loss: float) -> bool:
        """Record validation metrics, keep the best model; True = stop (patience spent)."""
        s = self.state
        metrics, _ = evaluate(sasrec_fn(self.model, True), split.valid_history,
                              split.valid_target, desc="validate")
        row = {"epoch": s["epoch"], "step": s["step"], "loss": round(loss, 4),
               "minutes": round(s["elapsed"] / 60, 2),
               **{f"valid_{k}": round(v, 5) for k, v in metrics.items() if "@" in k}}
        s["history"].append(row)
        write_json(self.out / "history.json", s["history"])
        if metrics["ndcg@10"] > s["best_ndcg"]:
            s["best_ndcg"], s["bad_evals"] = metrics["ndcg@10"], 0
            save_model(self.out, self.model, asdict(self.model.cfg))
        else:
            s["bad_evals"] += 1
        if not is_quiet():
            print(f"epoch {s['epoch']}: loss {row['loss']} valid ndcg@10 {metrics['ndcg@10']:.4f}"
                  f" recall@10 {metrics['recall@10']:.4f}", flush=True)
        return s["bad_evals"] >= self.cfg.patience


def load_sasrec(out: str | Path) -> SASRec:
    model = SASRec(SASRecConfig(**read_json(Path(out) / "model.json")))
    model.load_state_dict(load_weights(Path(out) / "model.safetensors"))
    return model.eval()
