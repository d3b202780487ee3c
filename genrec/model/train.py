"""Training: next-token cross-entropy, AdamW with warm-up and cosine decay, model selection on
full-validation NDCG@10, atomic checkpoints, and exact resume after a kill.

Distributed (torchrun, see genrec.model.distributed): every rank draws the same shuffled
global batches and trains a disjoint slice of each; DDP all-reduces the gradients, rank 0
alone writes checkpoints, history and the best model, and validation is sharded by users.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genrec.data import Split
from genrec.io import is_quiet, write_json
from genrec.model.batches import Batch, batch_order, causal_windows, make_batch, prefix_examples
from genrec.model.checkpoint import load_checkpoint, save_checkpoint, save_model
from genrec.model.distributed import (
    DistEnv,
    all_reduce_sum,
    barrier,
    broadcast_clock,
    evaluate_readings_sharded,
)
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
    ema: float = 0.0  # validate, select and ship an exponential moving average of the weights
    # with this per-step decay (0 = the trained weights themselves)
    compare_ema: list[float] = field(default_factory=list)  # experiments: also validate these
    # decays (0 = the trained weights) at every validation, into history.json; never shipped

    def __post_init__(self) -> None:
        for decay in (self.ema, *self.compare_ema):
            if not 0.0 <= decay < 1.0:
                raise ValueError(f"ema decays must be in [0, 1), got {decay}")
        names = [ema_name(d) for d in {self.ema, *self.compare_ema}]
        if len(set(names)) < len(names):  # they name checkpoint files and history keys
            raise ValueError(f"ema decays must differ in their first 6 digits, got {names}")


def ema_name(decay: float) -> str:
    """An average's name in checkpoint files and history keys: ema0.998."""
    return f"ema{decay:g}"


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


def validate(model: GenerativeRecommender, index: SemanticIndex, split: Split, beam: int,
             env: DistEnv | None = None, item_weight: float = 0.0) -> dict[str, Any]:
    """Full-validation metrics of every reading (the shipped one, with `item_weight`, at the
    top level); with several ranks each ranks a share of the users."""
    rec = Recommender(model, index, beam=beam, item_weight=item_weight)
    metrics, _ = evaluate_readings_sharded(rec.readings_fn(), split.valid_history,
                                           split.valid_target, env or DistEnv(),
                                           desc="validate")
    model.train()
    return metrics


class _LossOf(torch.nn.Module):
    """forward() = model.loss(), because DDP all-reduces gradients through forward hooks."""

    def __init__(self, model: GenerativeRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, b: Batch, all_codes: torch.Tensor) -> torch.Tensor:
        return self.model.loss(b.items, b.codes, b.tgt_pos, b.tgt_codes, b.tgt_valid, b.users,
                               b.tgt_items, all_codes)


def _to(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return Batch(**{k: v.to(device, non_blocking=True) for k, v in vars(batch).items()})


# the buffers are constants (level mask, offsets): no need to re-send them every forward
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False} if "forward_sync_buffers"
                   in inspect.signature(DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})
TRACE_ENV = "GENREC_TRACE_DIR"  # set: each rank writes rank<r>.json (its windows, step losses)


class Trainer:
    """Owns the loop state so a run can stop anywhere and resume from its last checkpoint."""

    def __init__(self, model: GenerativeRecommender, index: SemanticIndex, split: Split,
                 cfg: TrainConfig, run_dir: Path, dist: DistEnv | None = None,
                 item_weight: float = 0.0) -> None:
        self.model, self.index, self.split, self.cfg = model, index, split, cfg
        self.item_weight = item_weight  # the shipped reading selects the checkpoint
        self.run_dir = Path(run_dir)
        self.dist = dist or DistEnv()
        self.device = torch.device(self.dist.device)
        model.to(self.device)
        self.codes = torch.from_numpy(index.codes)
        self.codes_dev = self.codes.to(self.device)
        make = causal_windows if model.cfg.causal else prefix_examples
        self.windows, self.owners = make(split.train, model.cfg.max_items)
        self.lengths = np.array([len(w) for w in self.windows])
        # targets per window: every next item (causal) or the last one only
        self.n_targets = self.lengths - 1 if model.cfg.causal else np.ones_like(self.lengths)
        self.loss_fn: torch.nn.Module = _LossOf(model)
        if self.dist.enabled:  # broadcasts rank 0's weights, then all-reduces every backward
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_fn = DistributedDataParallel(self.loss_fn, device_ids=ids, **_NO_BUFFER_SYNC)
        self.trace: list[dict[str, Any]] | None = [] if os.environ.get(TRACE_ENV) else None
        self.steps_per_epoch = -(-len(self.windows) // cfg.batch_size)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.opt = make_optimizer(model, cfg)
        # weight averages, one per decay; the trained weights themselves are decay 0
        self.averages = {d: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(d))
                         for d in sorted({cfg.ema, *cfg.compare_ema} - {0.0})}
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # dropout; resume() replaces it with the saved state
        self.state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "step": 0, "elapsed": 0.0,
                                      "best_ndcg": -1.0, "bad_evals": 0, "history": [],
                                      "epoch_gen": None}

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def resume(self) -> bool:
        loaded = load_checkpoint(self.ckpt_dir, self.model, self.opt, self._average_modules())
        if loaded is None:
            return False
        self.state, rng = loaded
        self.gen.set_state(rng["gen"])
        torch.set_rng_state(rng["torch"])
        return True

    def checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.state["epoch_gen"] is not None:
            rng["gen"] = torch.tensor(self.state["epoch_gen"], dtype=torch.uint8)
        save_checkpoint(self.ckpt_dir, self.model, self.opt, self.state, rng,
                        self._average_modules())

    def _average_modules(self) -> dict[str, torch.nn.Module]:
        return {ema_name(d): avg for d, avg in self.averages.items()}

    def weights(self, decay: float) -> GenerativeRecommender:
        """The model whose weights are the `decay` average (0: the trained weights)."""
        return self.model if decay == 0.0 else self.averages[decay].module  # type: ignore

    def fit(self) -> list[dict[str, Any]]:
        self.model.train()
        while self.state["epoch"] < self.cfg.epochs and not self._out_of_time():
            self._run_epoch()
            if self._validate_now() and self._after_validation():
                break
            self.checkpoint()
        self.checkpoint()
        self._write_trace()
        barrier(self.dist)  # no rank returns before rank 0's last checkpoint is on disk
        return self.state["history"]

    def _clock(self) -> float:
        """perf_counter, the same on every rank (rank 0's), so time-based decisions agree."""
        return broadcast_clock(self.dist) if self.dist.enabled else time.perf_counter()

    def _write_trace(self) -> None:
        if self.trace is not None:
            write_json(Path(os.environ[TRACE_ENV]) / f"rank{self.dist.rank}.json",
                       {"rank": self.dist.rank, "world_size": self.dist.world_size,
                        "steps": self.trace})

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
        order = batch_order(self.lengths, self.cfg.batch_size, self.gen)
        bar = tqdm(total=self.steps_per_epoch, initial=s["step_in_epoch"],
                   disable=is_quiet() or not self.dist.is_main,
                   desc=f"epoch {s['epoch'] + 1}/{self.cfg.epochs}", leave=False)
        t0 = last_ckpt = self._clock()
        seen, loss_sum, n = 0, 0.0, 0
        for i, idx in enumerate(order):
            if i < s["step_in_epoch"]:
                continue
            loss = self._train_step(idx, s["elapsed"] + self._clock() - last_ckpt)
            loss_sum, n, seen = loss_sum + loss, n + 1, seen + int(self.n_targets[idx].sum())
            s["step_in_epoch"], s["step"] = i + 1, s["step"] + 1
            now = self._clock()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", targets_per_s=f"{seen / (now - t0):.0f}")
            if now - last_ckpt > self.cfg.checkpoint_minutes * 60:
                s["elapsed"] += now - last_ckpt
                last_ckpt = now
                self.checkpoint()
            if self._out_of_time():
                break
        bar.close()
        now = self._clock()
        s["elapsed"] += now - last_ckpt
        s["last_loss"] = loss_sum / max(n, 1)
        s["last_targets_per_s"] = seen / max(now - t0, 1e-9)
        if s["step_in_epoch"] >= self.steps_per_epoch:
            s["epoch"], s["step_in_epoch"], s["epoch_gen"] = s["epoch"] + 1, 0, None

    def progress(self, elapsed: float) -> float:
        """Share of the run done: by steps, or by the time budget if that runs out first."""
        warm = self.cfg.warmup_steps
        by_steps = (self.state["step"] - warm) / max(1, self.total_steps - warm)
        by_time = elapsed / (self.cfg.max_minutes * 60) if self.cfg.max_minutes > 0 else 0.0
        return max(by_steps, by_time)

    def _my_part(self, idx: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's windows of the global batch `idx` and their share of its targets."""
        if not self.dist.enabled:
            return idx, 1.0
        # every world_size-th window: a batch is sorted by length, so each rank gets a share
        # of the short and of the long windows and no rank waits long for the others
        part = idx[self.dist.rank :: self.dist.world_size]
        if len(part) == 0:  # a last batch smaller than the world: still join the all-reduce
            return idx[:1], 0.0
        return part, float(self.n_targets[part].sum() / self.n_targets[idx].sum())

    def _train_step(self, idx: np.ndarray, elapsed: float) -> float:
        """One optimizer step on global batch `idx`; returns its mean loss over all targets."""
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.progress(elapsed), self.state["step"], self.cfg)
        part, share = self._my_part(idx)
        batch = make_batch([self.windows[i] for i in part], self.owners[part], self.codes,
                           self.model.cfg.causal)
        if self.dist.enabled:  # dropout masks from (seed, step, rank): resume stays exact
            seq = np.random.SeedSequence([self.cfg.seed, self.state["step"], self.dist.rank])
            torch.manual_seed(int(seq.generate_state(1)[0]))
        loss = self.loss_fn(_to(batch, self.device), self.codes_dev)
        self.opt.zero_grad(set_to_none=True)
        if self.dist.enabled:
            # DDP averages gradients over ranks; weighting each rank's mean by its share of
            # the targets (times the world size) makes that the global batch's gradient.
            (loss * (share * self.dist.world_size)).backward()
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        for average in self.averages.values():
            average.update_parameters(self.model)
        value = loss.item()
        if self.dist.enabled:
            value = all_reduce_sum([value * share], self.dist)[0]
        if self.trace is not None:
            self.trace.append({"step": self.state["step"], "loss": value,
                               "windows": part.tolist() if share > 0 else []})
        return value

    def _validate_now(self) -> bool:
        e, trained = self.state["epoch"], self.state["step"] > 0
        return trained and (e % self.cfg.eval_every == 0 or e >= self.cfg.epochs
                            or self._out_of_time())

    def _after_validation(self) -> bool:
        """Record, keep the best model, and say whether to stop early."""
        s = self.state
        t0 = self._clock()
        shipped = self.weights(self.cfg.ema)
        metrics = validate(shipped, self.index, self.split, self.cfg.beam, self.dist,
                           self.item_weight)
        s["elapsed"] += self._clock() - t0  # the comparisons below stay off the budget, so
        # compare_ema leaves the schedule of a max_minutes run as it would be without them
        compared = {ema_name(d): validate(self.weights(d), self.index, self.split, self.cfg.beam,
                                          self.dist, self.item_weight)
                    for d in self.cfg.compare_ema if d != self.cfg.ema}
        row = {"epoch": s["epoch"], "step": s["step"], "loss": round(s.get("last_loss", 0), 4),
               "targets_per_s": round(s.get("last_targets_per_s", 0), 1),
               "minutes": round(s["elapsed"] / 60, 2), **_history_keys(metrics, "valid_", "@")}
        if "head_in_candidates" in metrics:
            row["valid_head_in_candidates"] = metrics["head_in_candidates"]
        for tag, other in compared.items():
            row.update(_history_keys(other, f"valid_{tag}_", "@10"))
        s["history"].append(row)
        main = self.dist.is_main  # every rank has the same metrics, so the same decisions
        if main:
            write_json(self.run_dir / "history.json", s["history"])
        if metrics["ndcg@10"] > s["best_ndcg"]:
            s["best_ndcg"], s["bad_evals"] = metrics["ndcg@10"], 0
            if main:
                save_model(self.run_dir, shipped, asdict(self.model.cfg))
        else:
            s["bad_evals"] += 1
        if main and not is_quiet():
            head = metrics.get("head_only", {}).get("recall@10", float("nan"))
            beam = metrics.get("beam_only", {}).get("recall@10", float("nan"))
            print(f"epoch {s['epoch']}: loss {row['loss']} valid ndcg@10 {metrics['ndcg@10']:.4f}"
                  f" recall@10 {metrics['recall@10']:.4f} (beam only {beam:.4f}, head only "
                  f"{head:.4f}) ({row['minutes']} min)", flush=True)
        return s["bad_evals"] >= self.cfg.patience


def _history_keys(metrics: dict[str, Any], prefix: str, shipped_at: str) -> dict[str, Any]:
    """A validation's readings as history.json keys: the shipped ones whose name holds
    `shipped_at` (rounded), then beam only and head only at 10."""
    return {**{f"{prefix}{k}": round(v, 5) for k, v in metrics.items() if shipped_at in k},
            **{f"{prefix}{name}_{k}": v for name in ("beam_only", "head_only")
               for k, v in metrics.get(name, {}).items() if k.endswith("@10")}}
