"""Training: next-token cross-entropy, AdamW with warm-up and cosine decay, model selection on
full-validation NDCG@10, atomic checkpoints, and exact resume after a kill."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from genrec.data import Split
from genrec.evaluate import evaluate
from genrec.io import is_quiet, write_json
from genrec.model.batches import causal_windows, iterate_batches, prefix_examples
from genrec.model.checkpoint import load_checkpoint, save_checkpoint, save_model
from genrec.model.model import GenerativeRecommender
from genrec.model.recommender import Recommender
from genrec.semantic_ids import SemanticIndex


@dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training targets
    batch_size: int = 256  # windows per step (causal) or examples per step (bidirectional)
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.05
    warmup_steps: int = 300  # linear warm-up, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    beam: int = 20  # beam width for validation and test
    eval_every: int = 1  # validate every N epochs (and after the last)
    patience: int = 4  # stop after N validations without a better NDCG@10
    max_minutes: float = 0.0  # wall-time budget for training (0 = none); the LR schedule
    # then runs over whichever ends first, the epochs or the minutes, so it always completes
    checkpoint_minutes: float = 5.0  # also checkpoint inside an epoch this often
    seed: int = 0


def lr_at(progress: float, step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_steps, then cosine from lr to lr * min_lr_ratio as
    `progress` (0..1, share of the run done) goes from 0 to 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """Weight decay on matrices only; embeddings, norms and biases are not decayed."""
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "tok" not in n
             and not n.startswith(("pos", "level", "item", "user"))]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98))


def validate(model: GenerativeRecommender, index: SemanticIndex, split: Split, beam: int
             ) -> dict[str, Any]:
    rec = Recommender(model, index, beam=beam)
    metrics, _ = evaluate(rec.recommend_fn(), split.valid_history, split.valid_target,
                          desc="validate")
    model.train()
    return metrics


class Trainer:
    """Owns the loop state so a run can stop anywhere and resume from its last checkpoint."""

    def __init__(self, model: GenerativeRecommender, index: SemanticIndex, split: Split,
                 cfg: TrainConfig, run_dir: Path) -> None:
        self.model, self.index, self.split, self.cfg = model, index, split, cfg
        self.run_dir = Path(run_dir)
        self.codes = torch.from_numpy(index.codes)
        make = causal_windows if model.cfg.causal else prefix_examples
        self.windows, self.owners = make(split.train, model.cfg.max_items)
        self.steps_per_epoch = -(-len(self.windows) // cfg.batch_size)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.opt = make_optimizer(model, cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # dropout; resume() replaces it with the saved state
        self.state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "step": 0, "elapsed": 0.0,
                                      "best_ndcg": -1.0, "bad_evals": 0, "history": [],
                                      "epoch_gen": None}

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def resume(self) -> bool:
        loaded = load_checkpoint(self.ckpt_dir, self.model, self.opt)
        if loaded is None:
            return False
        self.state, rng = loaded
        self.gen.set_state(rng["gen"])
        torch.set_rng_state(rng["torch"])
        return True

    def checkpoint(self) -> None:
        rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.state["epoch_gen"] is not None:
            rng["gen"] = torch.tensor(self.state["epoch_gen"], dtype=torch.uint8)
        save_checkpoint(self.ckpt_dir, self.model, self.opt, self.state, rng)

    def fit(self) -> list[dict[str, Any]]:
        self.model.train()
        while self.state["epoch"] < self.cfg.epochs and not self._out_of_time():
            self._run_epoch()
            if self._validate_now() and self._after_validation():
                break
            self.checkpoint()
        self.checkpoint()
        return self.state["history"]

    def _out_of_time(self) -> bool:
        return self.cfg.max_minutes > 0 and self.state["elapsed"] > self.cfg.max_minutes * 60

    def _run_epoch(self) -> None:
        from tqdm.auto import tqdm

        s = self.state
        # The epoch's shuffle is drawn from the generator state saved at its start, so a resume
        # mid-epoch redraws the same order and skips the batches already trained.
        if s["step_in_epoch"] == 0:
            s["epoch_gen"] = self.gen.get_state().tolist()
        else:
            self.gen.set_state(torch.tensor(s["epoch_gen"], dtype=torch.uint8))
        batches = iterate_batches(self.windows, self.owners, self.codes, self.model.cfg.causal,
                                  self.cfg.batch_size, self.gen)
        bar = tqdm(total=self.steps_per_epoch, initial=s["step_in_epoch"], disable=is_quiet(),
                   desc=f"epoch {s['epoch'] + 1}/{self.cfg.epochs}", leave=False)
        t0, last_ckpt, seen, loss_sum, n = time.perf_counter(), time.perf_counter(), 0, 0.0, 0
        for i, batch in enumerate(batches):
            if i < s["step_in_epoch"]:
                continue
            loss = self._train_step(batch, s["elapsed"] + time.perf_counter() - last_ckpt)
            loss_sum, n, seen = loss_sum + loss, n + 1, seen + batch.n_targets
            s["step_in_epoch"], s["step"] = i + 1, s["step"] + 1
            now = time.perf_counter()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", targets_per_s=f"{seen / (now - t0):.0f}")
            if now - last_ckpt > self.cfg.checkpoint_minutes * 60:
                s["elapsed"] += now - last_ckpt
                last_ckpt = now
                self.checkpoint()
            if self._out_of_time():
                break
        bar.close()
        s["elapsed"] += time.perf_counter() - last_ckpt
        s["last_loss"] = loss_sum / max(n, 1)
        s["last_targets_per_s"] = seen / max(time.perf_counter() - t0, 1e-9)
        if s["step_in_epoch"] >= self.steps_per_epoch:
            s["epoch"], s["step_in_epoch"], s["epoch_gen"] = s["epoch"] + 1, 0, None

    def progress(self, elapsed: float) -> float:
        """Share of the run done: by steps, or by the time budget if that runs out first."""
        warm = self.cfg.warmup_steps
        by_steps = (self.state["step"] - warm) / max(1, self.total_steps - warm)
        by_time = elapsed / (self.cfg.max_minutes * 60) if self.cfg.max_minutes > 0 else 0.0
        return max(by_steps, by_time)

    def _train_step(self, batch: Any, elapsed: float) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.progress(elapsed), self.state["step"], self.cfg)
        loss = self.model.loss(batch.items, batch.codes, batch.tgt_pos, batch.tgt_codes,
                               batch.tgt_valid, batch.users, batch.tgt_items, self.codes)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        return loss.item()

    def _validate_now(self) -> bool:
        e, trained = self.state["epoch"], self.state["step"] > 0
        return trained and (e % self.cfg.eval_every == 0 or e >= self.cfg.epochs
                            or self._out_of_time())

    def _after_validation(self) -> bool:
        """Record, keep the best model, and say whether to stop early."""
        s = self.state
        t0 = time.perf_counter()
        metrics = validate(self.model, self.index, self.split, self.cfg.beam)
        s["elapsed"] += time.perf_counter() - t0
        row = {"epoch": s["epoch"], "step": s["step"], "loss": round(s.get("last_loss", 0), 4),
               "targets_per_s": round(s.get("last_targets_per_s", 0), 1),
               "minutes": round(s["elapsed"] / 60, 2),
               **{f"valid_{k}": round(v, 5) for k, v in metrics.items() if "@" in k}}
        s["history"].append(row)
        write_json(self.run_dir / "history.json", s["history"])
        if metrics["ndcg@10"] > s["best_ndcg"]:
            s["best_ndcg"], s["bad_evals"] = metrics["ndcg@10"], 0
            save_model(self.run_dir, self.model, asdict(self.model.cfg))
        else:
            s["bad_evals"] += 1
        if not is_quiet():
            print(f"epoch {s['epoch']}: loss {row['loss']} valid ndcg@10 {metrics['ndcg@10']:.4f}"
                  f" recall@10 {metrics['recall@10']:.4f} ({row['minutes']} min)", flush=True)
        return s["bad_evals"] >= self.cfg.patience
