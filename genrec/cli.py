"""`genrec` command line: parses options and calls genrec.api / genrec.run; no logic lives
here. The commands over a trained run's catalogue are in genrec.cli_catalog; the shared
options and the one-line error report in genrec.cli_common."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import genrec.cli_catalog  # noqa: F401  (registers recommend, explain, items, serve, ...)
from genrec.cli_common import (
    DataDir,
    Dataset,
    IdCol,
    Interactions,
    ItemCol,
    Items,
    KCore,
    Quiet,
    TextCols,
    TimeCol,
    UserCol,
    app,
    data_options,
    echo_json,
    run_app,
    setup,
)
from genrec.errors import GenrecError

if TYPE_CHECKING:
    from genrec.model.distributed import DistEnv
    from genrec.run import RunConfig

_setup = setup  # the name older scripts import


@app.command()
def index(
    out: Annotated[Path, typer.Option(help="Output folder for the index.")],
    dataset: Dataset = None,
    interactions: Interactions = None,
    items: Items = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    text_cols: TextCols = None,
    method: Annotated[
        str, typer.Option(help="rqvae | rkmeans | hkmeans | title | random")
    ] = "rqvae",
    balance: Annotated[bool, typer.Option(help="Collision-aware last level.")] = False,
    seed: int = 0,
    levels: Annotated[int | None, typer.Option(
        min=1, max=16, help="Levels before the disambiguation token [3; hkmeans 2].")] = None,
    codebook_size: Annotated[int | None, typer.Option(
        min=2, help="Codes per level [256, fewer for small catalogues; hkmeans 64].")] = None,
    vectors: Annotated[Path | None, typer.Option(help="Item vectors .npy/.parquet.")] = None,
    k_core: KCore = 5,
    fit_sample: Annotated[int, typer.Option(min=0,
        help="Fit rqvae/rkmeans on this many random items, then code all in chunks [0: all].")
    ] = 0,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Give every item a semantic ID; writes OUT/index.json and OUT/index.png."""
    from genrec.api import index_command
    from genrec.semantic_ids import IndexConfig

    setup(quiet)
    if (out / "index.json").exists():
        raise GenrecError(f"--out {out}: already holds an index (index.json); choose another "
                          "folder or remove it")
    if out.exists() and not out.is_dir():
        raise GenrecError(f"--out {out}: is a file, not a folder")
    data = data_options(interactions, items, user_col, item_col, time_col, id_col, text_cols,
                        k_core)
    cfg = IndexConfig(method=method, levels=levels, codebook_size=codebook_size,
                      balance=balance, seed=seed, fit_sample=fit_sample)
    idx = index_command(data_dir, dataset, cfg, out, vectors, k_core, data)
    summary = {k: v for k, v in idx.summary().items() if k not in ("config", "items_per_code_hist")}
    echo_json(summary)


@app.command()
def embed(
    out: Annotated[Path, typer.Option(help="Vectors file to write (.npy).")],
    dataset: Dataset = None,
    interactions: Interactions = None,
    items: Items = None,
    chunk: Annotated[int, typer.Option(min=1, help="Items embedded (and saved) at a time.")
                     ] = 8192,
    k_core: KCore = 5,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Stream MiniLM item vectors to OUT chunk by chunk (resumable); then index with
    `genrec index --vectors OUT --fit-sample N` for catalogues too large for memory."""
    from genrec.api import embed_command

    setup(quiet)
    data = data_options(interactions, items, None, None, None, None, None, k_core)
    typer.echo(str(embed_command(data_dir, dataset, out, chunk, k_core, data)))


@app.command()
def download(
    category: Annotated[str, typer.Argument(help="Amazon 2014 category, e.g. Beauty.")],
    dest: Annotated[Path, typer.Option(help="Folder to write the raw files to.")],
    quiet: Quiet = False,
) -> None:
    """Fetch the official Amazon 2014 5-core reviews and metadata (resumable, checksummed)."""
    from genrec.data import download_amazon2014

    setup(quiet)
    for path in download_amazon2014(category, dest, quiet=quiet):
        typer.echo(str(path))


@app.command()
def stats(
    dataset: Dataset = None,
    interactions: Interactions = None,
    items: Items = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    text_cols: TextCols = None,
    k_core: KCore = 5,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Print a dataset's size and sequence-length statistics."""
    from genrec.api import command_dataset

    setup(quiet)
    data = data_options(interactions, items, user_col, item_col, time_col, id_col, text_cols,
                        k_core)
    echo_json(command_dataset(dataset, data, data_dir, k_core).summary())


Config = Annotated[Path | None, typer.Option("--config", help="Run config (TOML), see configs/ "
                                                               "and docs/config.md.")]
Out = Annotated[Path, typer.Option("--out", help="Run folder.")]
Distributed = Annotated[bool, typer.Option(
    help="Spread over --nproc-per-node local processes (torchrun); implied under torchrun.")]
Nproc = Annotated[int, typer.Option(help="Processes for --distributed [one per GPU, else 2].")]


def _run_config(config: Path | None, dataset: str | None, data: Any) -> RunConfig:
    """The config file (or the defaults) with the data options applied, checked whole before
    any work: a bad key or a config without data fails here."""
    from genrec.api import DEFAULT_RUN
    from genrec.run import RunConfig

    run = (RunConfig.from_toml(config, require_data=False) if config
           else RunConfig.from_dict(DEFAULT_RUN, require_data=False))
    if dataset is not None or data is not None:
        run.dataset = dataset
        run.data = data if data is not None else type(run.data)()
    run.require_data(config)
    return run


def _dist_setup(quiet: bool, distributed: bool = False, nproc: int = 0) -> DistEnv:
    """Join torchrun's process group if launched by it; with --distributed outside torchrun,
    relaunch this command under torchrun on this machine and exit with its code."""
    from genrec.model import distributed as dd

    if distributed and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(dd.launch_local(nproc or dd.default_nproc(), sys.argv[1:]))
    env = dd.init_from_env()
    setup(quiet or not env.is_main)  # one progress bar and log, rank 0's
    return env


@app.command()
def train(
    out: Out,
    config: Config = None,
    dataset: Dataset = None,
    interactions: Interactions = None,
    items: Items = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    text_cols: TextCols = None,
    k_core: KCore = 5,
    data_dir: DataDir = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """Index (or reuse OUT/index) and train; the best model lands in OUT."""
    from genrec.model.distributed import shutdown
    from genrec.run import train as train_run

    data = data_options(interactions, items, user_col, item_col, time_col, id_col, text_cols,
                        k_core)
    run = _run_config(config, dataset, data)  # a bad config fails here, before any launch
    env = _dist_setup(quiet, distributed, nproc_per_node)
    try:
        train_run(run, data_dir, out, resume=resume, dist=env)
    finally:
        shutdown()
    if env.is_main:
        echo_json(json.loads((out / "history.json").read_text())[-1])


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", help="Run folder.")],
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    beam: Annotated[int | None, typer.Option(min=1, help="Beam width [the run's eval beam].")
                    ] = None,
    item_weight: Annotated[float | None, typer.Option(
        min=0, help="Weight of the item head when re-ranking the beam [the run's].")] = None,
    leaf_budget: Annotated[int | None, typer.Option(
        min=0, help="Items a query's item-aware leaves may score; 0: every beam opens "
                    "[the model's].")] = None,
    prefix_beam: Annotated[int | None, typer.Option(
        min=0, help="Beams kept before the last generated level (2+ generated levels); 0: "
                    "the beam [the model's].")] = None,
    exclude_history: Annotated[bool, typer.Option(help="Drop history items.")] = True,
    constrained: Annotated[bool, typer.Option(help="Trie-constrained beam search.")] = True,
    metrics_file: Annotated[str | None, typer.Option(
        help="File name inside RUN [metrics.json; metrics_valid.json for --split valid].")
    ] = None,
    per_user: Annotated[Path | None, typer.Option(
        help="Also write each user's rank of the target to this CSV (user,target,rank; "
             "rank empty when outside the top k). Decodes the users a second time.")] = None,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """Item-level Recall/NDCG@5,10 of a run's model; writes RUN/metrics.json (or
    --metrics-file, which keeps the run's own metrics). Under torchrun the users are shared
    out across the processes."""
    from genrec.api import run_config, write_per_user
    from genrec.model.distributed import shutdown
    from genrec.run import EvalConfig, evaluate_run, load_run_dataset

    if split not in ("test", "valid"):
        raise GenrecError(f"--split must be test or valid, not {split!r}")
    cfg = run_config(run)
    env = _dist_setup(quiet, distributed, nproc_per_node)
    ds = load_run_dataset(cfg, data_dir)
    ev = EvalConfig(beam=cfg.eval.beam if beam is None else beam, k=cfg.eval.k,
                    exclude_history=exclude_history,
                    item_weight=cfg.eval.item_weight if item_weight is None else item_weight)
    try:
        metrics = evaluate_run(run, ds.split(), ev, split, constrained, dist=env,
                               metrics_file=metrics_file, leaf_budget=leaf_budget,
                               prefix_beam=prefix_beam)
    finally:
        shutdown()
    if env.is_main:
        if per_user is not None:
            write_per_user(run, ds, ev, split, per_user)
        echo_json(metrics)


@app.command("run")
def run_cmd(
    out: Out,
    config: Config = None,
    dataset: Dataset = None,
    interactions: Interactions = None,
    items: Items = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    text_cols: TextCols = None,
    k_core: KCore = 5,
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an existing checkpoint in OUT.")] = False,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """The whole pipeline: index -> train -> evaluate on test, then sample recommendations.
    Data: --config FILE (dataset or [data]), or --dataset NAME, or --interactions FILE
    [--items FILE]; the run remembers it for evaluate, recommend, explain and serve."""
    from genrec.api import sample_recommendations
    from genrec.model.distributed import shutdown
    from genrec.run import run_pipeline

    data = data_options(interactions, items, user_col, item_col, time_col, id_col, text_cols,
                        k_core)
    run = _run_config(config, dataset, data)  # a bad config fails here, before any launch
    env = _dist_setup(quiet, distributed, nproc_per_node)
    try:
        metrics = run_pipeline(run, data_dir, out, resume=not fresh, dist=env)
    finally:
        shutdown()
    if env.is_main:
        echo_json(metrics)
        typer.echo(sample_recommendations(out, data_dir))


@app.command()
def baseline(
    name: Annotated[str, typer.Argument(help="sasrec | popularity")],
    config: Annotated[Path, typer.Option("--config", help="Baseline config (TOML).")],
    out: Out,
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an existing checkpoint in OUT.")] = False,
    quiet: Quiet = False,
) -> None:
    """A reference model on the same split and metrics as genrec; writes OUT/metrics.json."""
    from genrec.baselines.run import BaselineConfig, run_baseline

    setup(quiet)
    cfg = BaselineConfig.from_toml(config, name)
    echo_json(run_baseline(name, cfg, data_dir, out, resume=not fresh))


def main() -> None:
    raise SystemExit(run_app())


if __name__ == "__main__":
    main()
