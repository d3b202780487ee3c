"""`genrec` command line: parses options and calls genrec.api; no logic lives here."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from genrec.errors import GenrecError
from genrec.io import set_quiet

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="GENREC_DATA", help="Data root (or set GENREC_DATA)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _setup(quiet: bool) -> None:
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
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Give every item a semantic ID; writes OUT/index.json and OUT/index.png."""
    from genrec.api import index_command
    from genrec.semantic_ids import IndexConfig

    _setup(quiet)
    cfg = IndexConfig(method=method, levels=levels, codebook_size=codebook_size,
                      balance=balance, seed=seed)
    idx = index_command(data_dir, dataset, cfg, out, vectors, k_core)
    summary = {k: v for k, v in idx.summary().items() if k not in ("config", "items_per_code_hist")}
    typer.echo(json.dumps(summary))


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


@app.command()
def train(
    config: Config,
    out: Out,
    data_dir: DataDir = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    quiet: Quiet = False,
) -> None:
    """Index (or reuse OUT/index) and train; the best model lands in OUT."""
    from genrec.run import RunConfig
    from genrec.run import train as train_run

    _setup(quiet)
    train_run(RunConfig.from_toml(config), data_dir, out, resume=resume)
    typer.echo(json.dumps(json.loads((out / "history.json").read_text())[-1]))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", help="Run folder.")],
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    beam: int = 20,
    exclude_history: Annotated[bool, typer.Option(help="Drop history items.")] = True,
    constrained: Annotated[bool, typer.Option(help="Trie-constrained beam search.")] = True,
    quiet: Quiet = False,
) -> None:
    """Item-level Recall/NDCG@5,10 of a run's model; writes RUN/metrics.json."""
    from genrec.run import EvalConfig, RunConfig, evaluate_run, load_run_dataset

    _setup(quiet)
    if split not in ("test", "valid"):
        raise typer.BadParameter(f"--split must be test or valid, not {split!r}")
    cfg = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    ds = load_run_dataset(cfg, data_dir)
    ev = EvalConfig(beam=beam, k=cfg.eval.k, exclude_history=exclude_history)
    typer.echo(json.dumps(evaluate_run(run, ds.split(), ev, split, constrained)))


@app.command()
def recommend(
    run: Annotated[Path, typer.Option("--run", help="Run folder.")],
    history: Annotated[str, typer.Option(help="Comma-separated item ids, oldest first.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    beam: int = 20,
) -> None:
    """Print the top-k next items for a history, with titles and scores."""
    from genrec.run import recommend_ids

    ids = [h.strip() for h in history.split(",") if h.strip()]
    for rank, item in enumerate(recommend_ids(run, ids, k, max(beam, k)), 1):
        typer.echo(f"{rank:>2}. {item['id']:>8}  {item['score']:>8.3f}  {item['title']}")


@app.command("run")
def run_cmd(
    config: Config,
    out: Out,
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an existing checkpoint in OUT.")] = False,
    quiet: Quiet = False,
) -> None:
    """The whole pipeline: index -> train -> evaluate on test, then sample recommendations."""
    from genrec.run import RunConfig, run_pipeline, sample_recommendations

    _setup(quiet)
    metrics = run_pipeline(RunConfig.from_toml(config), data_dir, out, resume=not fresh)
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
