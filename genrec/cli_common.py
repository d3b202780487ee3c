"""What every `genrec` command shares: the Typer app, common options, data options, and the
one-line error report (genrec.cli.main)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from genrec import __version__
from genrec.errors import GenrecError
from genrec.io import is_quiet, set_quiet

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Generative recommendation with semantic IDs. Every command takes "
                       "--quiet; `genrec COMMAND --help` for its options.")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="GENREC_DATA", help="Data root (or set GENREC_DATA)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or logs.")]
RunDir = Annotated[Path, typer.Option("--run", help="Run folder.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

# data options: a staged benchmark (--dataset) or your own files (--interactions ...)
Dataset = Annotated[str | None, typer.Option(
    help="Staged benchmark name (amazon2014-beauty, movielens-100k, ...) or raw Amazon folder.")]
Interactions = Annotated[Path | None, typer.Option(
    help="Your interactions: CSV/TSV, Parquet or JSON lines of user, item[, time].")]
Items = Annotated[Path | None, typer.Option(
    "--items", help="Item text for --interactions: CSV, Parquet or JSON lines keyed by id.")]
UserCol = Annotated[str | None, typer.Option(help="User column [guessed: user, user_id, ...].")]
ItemCol = Annotated[str | None, typer.Option(help="Item column [guessed: item, item_id, ...].")]
TimeCol = Annotated[str | None, typer.Option(
    help="Time column [guessed: timestamp, time, date, ...; none: file order].")]
IdCol = Annotated[str | None, typer.Option(help="Item id column of --items [guessed].")]
TextCols = Annotated[str | None, typer.Option(
    help="Comma-separated --items columns to keep as text [all but the id].")]
KCore = Annotated[int, typer.Option(min=0, help="Drop users/items with fewer interactions.")]


def data_options(interactions: Path | None, items: Path | None, user_col: str | None,
                 item_col: str | None, time_col: str | None, id_col: str | None,
                 text_cols: str | None, k_core: int) -> Any:
    """A DataConfig (absolute, checked paths) from the data options; None without
    --interactions (then --items and the column options make no sense)."""
    from genrec.data.spec import DataConfig

    if interactions is None:
        if items is not None:
            raise GenrecError("--items needs --interactions FILE")
        return None
    cols = [c.strip() for c in text_cols.split(",") if c.strip()] if text_cols else None
    return DataConfig(interactions=str(interactions), items=None if items is None else str(items),
                      user_col=user_col, item_col=item_col, time_col=time_col, id_col=id_col,
                      text_cols=cols, k_core=k_core).resolved()


def setup(quiet: bool) -> None:
    quiet = quiet or is_quiet()  # --quiet, or GENREC_QUIET=1 in the environment
    set_quiet(quiet)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    logging.getLogger("genrec.data").setLevel(logging.ERROR if quiet else logging.INFO)
    for noisy in ("matplotlib", "PIL", "httpx", "sentence_transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"genrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=version_callback, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Generative recommendation with semantic IDs."""


def one_line(err: BaseException) -> str:
    """An exception as one line: KeyError without its quotes, whitespace collapsed."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(str(text).split()) or type(err).__name__
    return text if len(text) <= 600 else text[:599] + "…"  # one line, not a screenful


def run_app() -> int:
    """Run the CLI; every failure is one line on stderr (GENREC_DEBUG=1: the traceback)."""
    try:  # typer >= 0.2x vendors click; older ones use click itself
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover
        from click import ClickException

    try:
        result = app(standalone_mode=False)
        return result if isinstance(result, int) else 0
    except (typer.Exit, SystemExit) as done:
        code = getattr(done, "exit_code", getattr(done, "code", 0))
        return code if isinstance(code, int) else 0
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 130
    except ClickException as err:  # usage: a missing option, -k 0, an unknown command
        typer.echo(f"error: {' '.join(err.format_message().split())}{_usage_hint(err)}",
                   err=True)
        return err.exit_code
    except (GenrecError, ValueError, KeyError, OSError, sqlite3.Error) as err:
        if os.environ.get("GENREC_DEBUG"):
            raise
        typer.echo(f"error: {one_line(err)}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except Exception as err:  # a bug, not a user mistake: still one line, with the way in
        if os.environ.get("GENREC_DEBUG"):
            raise
        typer.echo(f"error: unexpected {type(err).__name__}: {one_line(err)} "
                   "(GENREC_DEBUG=1 shows the traceback)", err=True)
        return 1


def _usage_hint(err: Any) -> str:
    ctx = getattr(err, "ctx", None)
    name = ctx.command_path if ctx is not None else "genrec"
    return f" (see: {name} --help)"
