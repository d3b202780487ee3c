"""One run = one folder: the config that made it, the index, the model, curves and metrics.

    run/config.json        the RunConfig (data, index, model, train, eval), saved first
    run/index/             SemanticIndex (+ frozen quantizer)
    run/items.json         external id and title per item, so a run serves without the data
    run/checkpoint/        last training state (resume), run/model.safetensors the best model
    run/history.json, run/curve.png, run/metrics.json (test), run/metrics_valid.json
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genrec.config import ConfigError, build_section, check_section
from genrec.data import Dataset, Split, load_dataset
from genrec.data.spec import DataConfig
from genrec.decode import ConstraintIndex
from genrec.explain import labels_for
from genrec.io import read_json, write_json
from genrec.model import TIGER_PRESET, GenerativeRecommender, ModelConfig
from genrec.model.checkpoint import load_weights
from genrec.model.distributed import (
    DistEnv,
    all_gather_objects,
    barrier,
    evaluate_readings_sharded,
    evaluate_sharded,
)
from genrec.model.recommender import Recommender
from genrec.model.train import TrainConfig, Trainer
from genrec.semantic_ids import IndexConfig, SemanticIndex, fit_to_catalogue


@dataclass
class EvalConfig:
    beam: int = 20  # beam width at test time
    k: int = 10  # list length (metrics @5 and @10)
    exclude_history: bool = True  # never recommend an item already in the history
    item_weight: float = 0.0  # >0: rank by beam score + item_weight * the item head's logit:
    # every opened leaf with item-aware leaves, else the beam's items (needs item_loss > 0)


@dataclass
class RunConfig:
    dataset: str | None = None  # staged benchmark name or raw Amazon folder (or give [data])
    data: DataConfig = field(default_factory=DataConfig)  # your own files instead of dataset
    vectors: str | None = None  # item vectors file instead of text embeddings
    index: IndexConfig = field(default_factory=IndexConfig)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields (+ preset="tiger")
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    threads: int = 0  # torch CPU threads (0 = torch default)
    max_users: int = 0  # >0: keep only the first N users (quick runs and tests)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], require_data: bool = True) -> RunConfig:
        """Every key checked against the section dataclasses (names, types, ranges) before
        any work; `require_data`: a config must say what to train on."""
        sections = ("data", "index", "model", "train", "eval")
        top = check_section(cls, {k: v for k, v in raw.items() if k not in sections}, "")
        if not isinstance(raw.get("model", {}), dict):
            raise ConfigError("[model] must be a table of keys")
        model = dict(raw.get("model", {}))
        preset = model.pop("preset", None)
        if preset not in (None, "tiger"):
            raise ConfigError(f"model.preset must be \"tiger\" or absent, not {preset!r}")
        build_section(ModelConfig, model, "model")  # checked now, built once the index exists
        run = cls(**top, data=build_section(DataConfig, raw.get("data", {}), "data"),
                  index=build_section(IndexConfig, raw.get("index", {}), "index"),
                  model=dict(raw.get("model", {})),
                  train=build_section(TrainConfig, raw.get("train", {}), "train"),
                  eval=build_section(EvalConfig, raw.get("eval", {}), "eval"))
        if require_data:
            run.require_data()
        return run

    @classmethod
    def from_toml(cls, path: str | Path, require_data: bool = True) -> RunConfig:
        """The config file; [data] paths are read relative to the file's folder."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"--config: no such file {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML ({err})") from None
        try:
            run = cls.from_dict(raw, require_data=False)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        if run.data.given:
            run.data = run.data.resolved(path.parent)
        if require_data:
            run.require_data(path)
        return run

    def require_data(self, path: str | Path | None = None) -> None:
        """Exactly one of `dataset` and [data] interactions."""
        where = f"{path}: " if path else ""
        if self.dataset is None and not self.data.given:
            raise ConfigError(f"{where}no data: set dataset = \"NAME\" (a staged benchmark) "
                              "or [data] interactions = \"FILE\" (or pass --dataset / "
                              "--interactions)")
        if self.dataset is not None and self.data.given:
            raise ConfigError(f"{where}give dataset or [data] interactions, not both")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_config(run: RunConfig, index: SemanticIndex, n_items: int) -> ModelConfig:
    options = dict(run.model)
    preset = options.pop("preset", None)
    if preset not in (None, "tiger"):
        raise ValueError(f"unknown model preset {preset!r} (known: tiger)")
    base = dict(TIGER_PRESET) if preset == "tiger" else {}
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"[model] has unknown keys {unknown}; known: {sorted(known)}")
    options = base | options
    levels = len(index.level_sizes)
    for key in ("generated_levels", "loss_levels"):
        if options.get(key, 0) > levels:
            raise ConfigError(f"model.{key} = {options[key]}: the index has only {levels} "
                              "levels (codes + disambiguation)")
    if options.get("leaf_cap"):  # the decoder generates until a prefix holds <= cap items
        trie = ConstraintIndex.build(index.codes, index.level_sizes)
        options["generated_levels"] = trie.prefix_levels(options["leaf_cap"])
    return ModelConfig(level_sizes=list(index.level_sizes), shared_vocab=index.shared_vocab,
                       n_items=n_items, **options)


def load_run_dataset(run: RunConfig, data_dir: str | Path | None) -> Dataset:
    """The run's data: its [data] files, else the named dataset (baseline configs, which have
    only `dataset` and `max_users`, come through here too)."""
    data = getattr(run, "data", None)
    if data is not None and data.given:
        ds = data.load()
    elif run.dataset is None:
        raise ConfigError("no data: set dataset = \"NAME\" or [data] interactions = \"FILE\"")
    else:
        ds = load_dataset(run.dataset, data_dir)
    if run.max_users:
        ds = Dataset(ds.name, ds.item_ids, ds.user_ids[: run.max_users],
                     ds.sequences[: run.max_users], ds.items)
    return ds


def _index_for(run: RunConfig, ds: Dataset, out: Path) -> SemanticIndex:
    """The run's index: reused when present and made by the same config, else built."""
    from genrec.indexing import make_index

    folder = out / "index"
    if (folder / "index.json").exists():
        index = SemanticIndex.load(folder)
        # keys added to IndexConfig later count as their default in older indexes
        default = {f.name: f.default for f in fields(IndexConfig)}
        want = asdict(fit_to_catalogue(run.index, ds.n_items)[0])  # as make_index scales it
        same = all(index.config.get(k, default[k]) == v for k, v in want.items())
        if same and index.n_items == ds.n_items:
            return index
    return make_index(ds, run.index, folder, run.vectors)


def save_items(ds: Dataset, out: Path) -> list[dict[str, Any]]:
    """id, title and the text fields labels are made of, so a run explains without its data."""
    def entry(i: int) -> dict[str, Any]:
        rec = ds.items[i] if ds.items else {}
        extra = {f: rec[f] for f in ("brand", "categories", "genres") if rec.get(f)}
        return {"id": ds.item_ids[i], "title": ds.title(i), **extra}

    entries = [entry(i) for i in range(ds.n_items)]
    write_json(out / "items.json", entries)
    return entries


def train(run: RunConfig, data_dir: str | Path | None, out: str | Path, resume: bool = False,
          dist: DistEnv | None = None
          ) -> tuple[Dataset, Split, SemanticIndex, GenerativeRecommender]:
    """Index (or reuse it) and train; `resume` continues from out/checkpoint if present.

    With `dist` (several ranks) rank 0 alone writes the run files and builds the index, the
    other ranks load it; every rank trains its slice of each global batch."""
    dist = dist or DistEnv()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if run.threads:
        torch.set_num_threads(run.threads)
    saved = out / "config.json"
    if resume and (out / "checkpoint" / "state.json").exists() and saved.exists():
        # through from_dict: keys added to the config since count as their defaults
        if RunConfig.from_dict(read_json(saved)).to_dict() != run.to_dict():
            raise ValueError(f"{out} holds a run made with another config ({saved}); "
                             "use a new --out folder (or --fresh to start over)")
    ds = load_run_dataset(run, data_dir)
    if dist.is_main:
        write_json(saved, run.to_dict())
        records = save_items(ds, out)
        index = _index_for(run, ds, out)
        labels_for(out / "index", index.codes, records)  # so explaining later reads, not writes
    barrier(dist)
    if not dist.is_main:
        index = SemanticIndex.load(out / "index")
    split = ds.split()
    mcfg = model_config(run, index, ds.n_items)
    torch.manual_seed(run.train.seed)
    model = GenerativeRecommender(mcfg)
    trainer = Trainer(model, index, split, run.train, out, dist, run.eval.item_weight)
    if resume and trainer.resume() and dist.is_main:
        print(f"resumed from {out / 'checkpoint'} at epoch {trainer.state['epoch']}, "
              f"step {trainer.state['step']}", flush=True)
    history = trainer.fit()
    if dist.is_main:
        plot_curve(history, out / "curve.png")
    return ds, split, index, load_model(out)


def load_model(out: str | Path) -> GenerativeRecommender:
    cfg = ModelConfig(**read_json(Path(out) / "model.json"))
    model = GenerativeRecommender(cfg)
    model.load_state_dict(load_weights(Path(out) / "model.safetensors"))
    return model.eval()


def load_recommender(out: str | Path, beam: int | None = None,
                     item_weight: float | None = None, leaf_budget: int | None = None,
                     prefix_beam: int | None = None) -> Recommender:
    """The run's best model as a Recommender; beam and item_weight default to its config,
    leaf_budget and prefix_beam to its model's."""
    cfg = run_eval_config(out)
    return Recommender(load_model(out), SemanticIndex.load(Path(out) / "index"),
                       beam=cfg.beam if beam is None else beam,
                       item_weight=cfg.item_weight if item_weight is None else item_weight,
                       leaf_budget=leaf_budget, prefix_beam=prefix_beam)


def run_eval_config(out: str | Path) -> EvalConfig:
    """The [eval] section saved with a run (defaults where the run has no config.json)."""
    path = Path(out) / "config.json"
    return EvalConfig(**read_json(path).get("eval", {})) if path.exists() else EvalConfig()


def evaluate_run(out: str | Path, split: Split, cfg: EvalConfig, which: str = "test",
                 constrained: bool = True, dist: DistEnv | None = None,
                 metrics_file: str | None = None, leaf_budget: int | None = None,
                 prefix_beam: int | None = None) -> dict[str, Any]:
    """Item-level metrics of the run's best model on the test (or valid) split; with several
    ranks the users are shared out and the results gathered (rank 0 writes the file:
    metrics_file inside the run, by default metrics.json or metrics_valid.json).
    leaf_budget, prefix_beam: override the model's (e.g. to re-read a run under a newer
    default)."""
    dist = dist or DistEnv()
    rec = load_recommender(out, cfg.beam, cfg.item_weight, leaf_budget, prefix_beam)
    histories = split.test_history if which == "test" else split.valid_history
    targets = split.test_target if which == "test" else split.valid_target
    if constrained:  # every reading from one encoding pass per batch
        metrics, _ = evaluate_readings_sharded(rec.readings_fn(cfg.exclude_history), histories,
                                               targets, dist, k=cfg.k, desc=f"evaluate {which}")
    else:
        metrics, _ = evaluate_sharded(rec.recommend_fn(cfg.exclude_history, False), histories,
                                      targets, dist, k=cfg.k, desc=f"evaluate {which}")
    invalid = [r for part in all_gather_objects(rec.invalid, dist) for r in part]
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    metrics |= {"invalid_rate": float(np.mean(invalid)) if invalid else 0.0,
                "beam": cfg.beam, "exclude_history": cfg.exclude_history,
                "item_weight": cfg.item_weight, "leaf_budget": rec.leaf_budget,
                "prefix_beam": rec.prefix_beam, "constrained": constrained, "split": which}
    if dist.is_main:
        default = "metrics.json" if which == "test" else "metrics_valid.json"
        write_json(Path(out) / (metrics_file or default), metrics)
    return metrics


def run_pipeline(run: RunConfig, data_dir: str | Path | None, out: str | Path,
                 resume: bool = True, dist: DistEnv | None = None) -> dict[str, Any]:
    """Index -> train -> evaluate on test; returns test metrics (also in out/metrics.json)."""
    dist = dist or DistEnv()
    start = time.perf_counter()
    _, split, _, _ = train(run, data_dir, out, resume=resume, dist=dist)
    metrics = evaluate_run(out, split, run.eval, "test", dist=dist)
    metrics["pipeline_seconds"] = round(time.perf_counter() - start, 1)
    if dist.is_main:
        write_json(Path(out) / "metrics.json", metrics)
    return metrics


def plot_curve(history: list[dict[str, Any]], path: Path) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genrec.io import atomic_path

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    minutes = [h["minutes"] for h in history]
    ax.plot(minutes, [h["loss"] for h in history], "o-", color="#4c72b0", label="train loss")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(minutes, [h["valid_ndcg@10"] for h in history], "s-", color="#dd8452",
             label="valid NDCG@10")
    ax2.set_ylabel("valid NDCG@10")
    fig.legend(loc="upper center", ncol=2, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
