"""`genrec` command line: parses options and calls genrec.api; no logic lives here."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from genrec.errors import GenrecError
from genrec.io import is_quiet, set_quiet

if TYPE_CHECKING:
    from genrec.model.distributed import DistEnv

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="GENREC_DATA", help="Data root (or set GENREC_DATA)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _setup(quiet: bool) -> None:
    quiet = quiet or is_quiet()  # --quiet, or GENREC_QUIET=1 in the environment
    set_quiet(quiet)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")


@app.command()
def index(
    dataset: Annotated[str, typer.Option(help="Benchmark name or raw Amazon folder.")],
    out: Annotated[Path, typer.Option(help="Output folder for the index.")],
    method: Annotated[
        str, typer.Option(help="rqvae | rkmeans | hkmeans | title | random")
    ] = "rqvae",
    balance: Annotated[bool, typer.Option(help="Collision-aware last level.")] = False,
    seed: int = 0,
    levels: Annotated[
        int | None, typer.Option(help="Levels before the disambiguation token [3; hkmeans 2].")
    ] = None,
    codebook_size: Annotated[
        int | None, typer.Option(help="Codes per level [256; hkmeans 64].")
    ] = None,
    vectors: Annotated[Path | None, typer.Option(help="Item vectors .npy/.parquet.")] = None,
    k_core: Annotated[int, typer.Option(help="k-core filter for raw Amazon folders.")] = 5,
    fit_sample: Annotated[int, typer.Option(
        help="Fit rqvae/rkmeans on this many random items, then code all in chunks [0: all].")
    ] = 0,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Give every item a semantic ID; writes OUT/index.json and OUT/index.png."""
    from genrec.api import index_command
    from genrec.semantic_ids import IndexConfig

    _setup(quiet)
    cfg = IndexConfig(method=method, levels=levels, codebook_size=codebook_size,
                      balance=balance, seed=seed, fit_sample=fit_sample)
    idx = index_command(data_dir, dataset, cfg, out, vectors, k_core)
    summary = {k: v for k, v in idx.summary().items() if k not in ("config", "items_per_code_hist")}
    typer.echo(json.dumps(summary))


@app.command()
def embed(
    dataset: Annotated[str, typer.Option(help="Benchmark name or raw Amazon folder.")],
    out: Annotated[Path, typer.Option(help="Vectors file to write (.npy).")],
    chunk: Annotated[int, typer.Option(help="Items embedded (and saved) at a time.")] = 8192,
    k_core: Annotated[int, typer.Option(help="k-core filter for raw Amazon folders.")] = 5,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Stream MiniLM item vectors to OUT chunk by chunk (resumable); then index with
    `genrec index --vectors OUT --fit-sample N` for catalogues too large for memory."""
    from genrec.api import embed_command

    _setup(quiet)
    typer.echo(str(embed_command(data_dir, dataset, out, chunk, k_core)))


@app.command()
def download(
    category: Annotated[str, typer.Argument(help="Amazon 2014 category, e.g. Beauty.")],
    dest: Annotated[Path, typer.Option(help="Folder to write the raw files to.")],
    quiet: Quiet = False,
) -> None:
    """Fetch the official Amazon 2014 5-core reviews and metadata (resumable, checksummed)."""
    from genrec.data import download_amazon2014

    _setup(quiet)
    for path in download_amazon2014(category, dest, quiet=quiet):
        typer.echo(str(path))


@app.command()
def stats(
    dataset: Annotated[str, typer.Option(help="Benchmark name or raw Amazon folder.")],
    data_dir: DataDir = None,
) -> None:
    """Print a dataset's size and sequence-length statistics."""
    from genrec.data import load_dataset

    typer.echo(json.dumps(load_dataset(dataset, data_dir).summary()))


Config = Annotated[Path, typer.Option("--config", help="Run config (TOML), see configs/.")]
Out = Annotated[Path, typer.Option("--out", help="Run folder.")]
Distributed = Annotated[bool, typer.Option(
    help="Spread over --nproc-per-node local processes (torchrun); implied under torchrun.")]
Nproc = Annotated[int, typer.Option(help="Processes for --distributed [one per GPU, else 2].")]


def _dist_setup(quiet: bool, distributed: bool = False, nproc: int = 0) -> DistEnv:
    """Join torchrun's process group if launched by it; with --distributed outside torchrun,
    relaunch this command under torchrun on this machine and exit with its code."""
    from genrec.model import distributed as dd

    if distributed and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(dd.launch_local(nproc or dd.default_nproc(), sys.argv[1:]))
    env = dd.init_from_env()
    _setup(quiet or not env.is_main)  # one progress bar and log, rank 0's
    return env


@app.command()
def train(
    config: Config,
    out: Out,
    data_dir: DataDir = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """Index (or reuse OUT/index) and train; the best model lands in OUT."""
    from genrec.model.distributed import shutdown
    from genrec.run import RunConfig
    from genrec.run import train as train_run

    run = RunConfig.from_toml(config)  # a bad config fails here, before any launch
    env = _dist_setup(quiet, distributed, nproc_per_node)
    try:
        train_run(run, data_dir, out, resume=resume, dist=env)
    finally:
        shutdown()
    if env.is_main:
        typer.echo(json.dumps(json.loads((out / "history.json").read_text())[-1]))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", help="Run folder.")],
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    beam: Annotated[int | None, typer.Option(help="Beam width [the run's eval beam].")] = None,
    item_weight: Annotated[float | None, typer.Option(
        help="Weight of the item head when re-ranking the beam [the run's].")] = None,
    exclude_history: Annotated[bool, typer.Option(help="Drop history items.")] = True,
    constrained: Annotated[bool, typer.Option(help="Trie-constrained beam search.")] = True,
    metrics_file: Annotated[str | None, typer.Option(
        help="File name inside RUN [metrics.json; metrics_valid.json for --split valid].")
    ] = None,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """Item-level Recall/NDCG@5,10 of a run's model; writes RUN/metrics.json (or
    --metrics-file, which keeps the run's own metrics). Under torchrun the users are shared
    out across the processes."""
    from genrec.model.distributed import shutdown
    from genrec.run import EvalConfig, RunConfig, evaluate_run, load_run_dataset

    if split not in ("test", "valid"):
        raise typer.BadParameter(f"--split must be test or valid, not {split!r}")
    env = _dist_setup(quiet, distributed, nproc_per_node)
    cfg = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    ds = load_run_dataset(cfg, data_dir)
    ev = EvalConfig(beam=cfg.eval.beam if beam is None else beam, k=cfg.eval.k,
                    exclude_history=exclude_history,
                    item_weight=cfg.eval.item_weight if item_weight is None else item_weight)
    try:
        metrics = evaluate_run(run, ds.split(), ev, split, constrained, dist=env,
                               metrics_file=metrics_file)
    finally:
        shutdown()
    if env.is_main:
        typer.echo(json.dumps(metrics))


@app.command()
def recommend(
    run: Annotated[Path, typer.Option("--run", help="Run folder.")],
    history: Annotated[str, typer.Option(help="Comma-separated item ids, oldest first.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    beam: int = 20,
    explain: Annotated[bool, typer.Option(help="Also print each item's semantic-ID path.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the top-k next items for a history (live catalogue), with titles and scores."""
    from genrec.api import recommend_command

    ids = [h.strip() for h in history.split(",") if h.strip()]
    for rank, item in enumerate(recommend_command(run, ids, k, beam, explain, data_dir), 1):
        typer.echo(f"{rank:>2}. {item['id']:>8}  {item['score']:>8.3f}  {item['title']}")
        if explain:
            typer.echo(f"              {item.get('path')}")


RunDir = Annotated[Path, typer.Option("--run", help="Run folder.")]


@app.command("add-items")
def add_items(
    run: RunDir,
    items: Annotated[Path, typer.Option(help="New items: JSON list or JSON lines of "
                                             "{id, title, brand, categories}.")],
    data_dir: DataDir = None,
) -> None:
    """Give new items semantic IDs with the frozen quantizer; recommendable at once."""
    from genrec.api import add_items_command

    for row in add_items_command(run, items, data_dir):
        typer.echo(json.dumps(row, ensure_ascii=False))


@app.command("remove-items")
def remove_items(
    run: RunDir,
    ids: Annotated[str, typer.Option(help="Comma-separated item ids.")],
) -> None:
    """Stop recommending items (out of stock); they stay readable in histories."""
    from genrec.api import remove_items_command

    remove_items_command(run, [i.strip() for i in ids.split(",") if i.strip()])


@app.command()
def explain(
    run: RunDir,
    item: Annotated[str | None, typer.Option(help="Item id.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the hierarchy's top.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print an item's semantic-ID path, e.g. "Makeup › Nails › OPI polish › #3"."""
    from genrec.api import explain_command

    if item is None and plot is None:
        raise typer.BadParameter("give --item and/or --plot")
    path = explain_command(run, item, plot, data_dir)
    if path is not None:
        typer.echo(path)


@app.command()
def serve(
    run: RunDir,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: Annotated[int, typer.Option(help="torch threads for decoding.")] = 1,
    max_batch: Annotated[int, typer.Option(help="Most requests per decode.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(
        help="Most time a batch gathers (it closes after a 2 ms pause).")] = 10.0,
    workers: Annotated[int, typer.Option(help="Decodes that may run at once.")] = 1,
    beam: Annotated[int | None, typer.Option(help="Beam width [the run's eval beam].")] = None,
    data_dir: DataDir = None,
) -> None:
    """HTTP service: POST /recommend, POST/GET/DELETE /items, GET /health, docs at /docs."""
    import torch
    import uvicorn

    from genrec.serve import create_app

    torch.set_num_threads(threads)
    _setup(True)
    app = create_app(run, data_dir=data_dir, max_batch=max_batch, max_wait_ms=max_wait_ms,
                     workers=workers, beam=beam)
    typer.echo(f"serving {run} on http://{host}:{port} (docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@app.command("run")
def run_cmd(
    config: Config,
    out: Out,
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an existing checkpoint in OUT.")] = False,
    quiet: Quiet = False,
    distributed: Distributed = False,
    nproc_per_node: Nproc = 0,
) -> None:
    """The whole pipeline: index -> train -> evaluate on test, then sample recommendations."""
    from genrec.model.distributed import shutdown
    from genrec.run import RunConfig, run_pipeline, sample_recommendations

    run = RunConfig.from_toml(config)  # a bad config fails here, before any launch
    env = _dist_setup(quiet, distributed, nproc_per_node)
    try:
        metrics = run_pipeline(run, data_dir, out, resume=not fresh, dist=env)
    finally:
        shutdown()
    if env.is_main:
        typer.echo(json.dumps(metrics))
        typer.echo(sample_recommendations(out, data_dir))


@app.command()
def baseline(
    name: Annotated[str, typer.Argument(help="sasrec | popularity")],
    config: Config,
    out: Out,
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an existing checkpoint in OUT.")] = False,
    quiet: Quiet = False,
) -> None:
    """A reference model on the same split and metrics as genrec; writes OUT/metrics.json."""
    from genrec.baselines.run import BaselineConfig, run_baseline

    _setup(quiet)
    cfg = BaselineConfig.from_toml(config, name)
    typer.echo(json.dumps(run_baseline(name, cfg, data_dir, out, resume=not fresh)))


def main() -> None:
    try:
        app()
    except (GenrecError, ValueError, KeyError, FileNotFoundError) as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
