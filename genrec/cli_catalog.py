"""`genrec` commands over a trained run's live catalogue: recommend, explain, items, add-items,
remove-items, serve. Each is a thin layer over genrec.api.Run, the code path the Python API
and the service share. Read-only commands open the run with persist=False: they write nothing
into it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from genrec.cli_common import DataDir, Json, Quiet, RunDir, app, echo_json, setup
from genrec.errors import GenrecError


@app.command()
def recommend(
    run: RunDir,
    history: Annotated[str | None, typer.Option(
        help="Comma-separated item ids, oldest first.")] = None,
    user: Annotated[str | None, typer.Option(
        help="A user of the run's dataset: their whole history.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many items.")] = 10,
    beam: Annotated[int | None, typer.Option(min=1, help="Beam width [the run's].")] = None,
    explain: Annotated[bool, typer.Option(help="Also print each item's semantic-ID path.")] = False,
    json_out: Json = False,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Top-k next items for a history (or a user of the run's data) over the live catalogue."""
    from genrec.api import SCORE_NOTE, Run

    setup(quiet)
    if (history is None) == (user is None):
        raise GenrecError("give --history ID,ID,... or --user ID (one of them)")
    with Run(run, data_dir=data_dir, beam=beam, persist=False, explain=explain) as r:
        ids = ([h.strip() for h in history.split(",") if h.strip()] if history is not None
               else r.user_history(user))  # type: ignore[arg-type]
        if not ids:
            raise GenrecError("--history: give at least one item id")
        answer = r.answer(ids, k, explain=explain)
    if json_out:
        echo_json(answer | {"score": SCORE_NOTE})
        return
    typer.echo(f"{'rank':>4}  {'id':>10}  {'score':>8}  title" + ("   [path]" if explain else ""))
    for rank, item in enumerate(answer["items"], 1):
        typer.echo(f"{rank:>4}  {item['id']:>10}  {item['score']:>8.3f}  {item['title']}")
        if explain:
            typer.echo(f"{'':>26}  {item.get('path')}")
    for note in answer["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(SCORE_NOTE)


@app.command()
def explain(
    run: RunDir,
    item: Annotated[str | None, typer.Option(help="Item id.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the hierarchy's top.")] = None,
    json_out: Json = False,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Print an item's semantic-ID path, e.g. "Makeup › Nails › OPI polish › #3"."""
    from genrec.api import Run
    from genrec.explain import plot_hierarchy

    setup(quiet)
    if item is None and plot is None:
        raise GenrecError("give --item ID and/or --plot FILE.png")
    with Run(run, data_dir=data_dir, persist=False, model=False) as r:
        info = r.item(item) if item is not None else None
        if plot is not None:
            snap = r.catalog.snapshot
            plot_hierarchy(snap.labels, snap.codes, plot)
    if info is None:
        return
    if json_out:
        echo_json(info)
    else:
        typer.echo(info["path"])


@app.command()
def items(
    run: RunDir,
    search: Annotated[str, typer.Option(help="Words the title (or id) must contain.")],
    limit: Annotated[int, typer.Option(min=1, help="Most items to list.")] = 20,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Find item ids by title: `genrec items --run RUN --search "lipstick"`."""
    from genrec.api import Run

    setup(quiet)
    with Run(run, persist=False, explain=False, model=False) as r:
        found = r.search(search, limit)
    if json_out:
        echo_json(found)
        return
    for it in found:
        typer.echo(f"{it['id']:>10}  {it['title']}")
    if not found:
        typer.echo(f"no active item matches {search!r}", err=True)


@app.command("add-items")
def add_items(
    run: RunDir,
    items: Annotated[Path, typer.Option(help="New items: JSON list or JSON lines of "
                                             "{id, title, brand, categories}.")],
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Give new items semantic IDs with the frozen quantizer; recommendable at once (a service
    on the run picks them up within a second)."""
    from genrec.api import Run, read_item_records

    setup(quiet)
    records = read_item_records(items)  # a bad file fails here, before anything loads
    with Run(run, data_dir=data_dir, model=False) as r:
        for row in r.add_items(records):
            echo_json(row)


@app.command("remove-items")
def remove_items(
    run: RunDir,
    ids: Annotated[str, typer.Option(help="Comma-separated item ids.")],
    quiet: Quiet = False,
) -> None:
    """Stop recommending items (out of stock); they stay readable in histories."""
    from genrec.api import Run

    setup(quiet)
    with Run(run, explain=False, model=False) as r:
        done = r.remove_items([i.strip() for i in ids.split(",") if i.strip()])
        version = r.catalog.snapshot.version
    typer.echo(f"removed {len(done)} item(s): {', '.join(done)} (catalog version {version}); "
               "`genrec add-items` lists them again")


@app.command()
def serve(
    run: RunDir,
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    threads: Annotated[int, typer.Option(min=1, help="torch threads for decoding.")] = 1,
    max_batch: Annotated[int, typer.Option(min=1, help="Most requests per decode.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(
        min=0, help="Most time a batch gathers (it closes after a 2 ms pause).")] = 10.0,
    workers: Annotated[int, typer.Option(min=1, help="Decodes that may run at once.")] = 1,
    beam: Annotated[int | None, typer.Option(min=1, help="Beam width [the run's].")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """HTTP service: POST /recommend, POST/GET/DELETE /items, GET /health, docs at /docs."""
    import torch
    import uvicorn

    from genrec.api import check_run
    from genrec.serve import create_app

    setup(True)
    check_run(run)
    sock = _bind(host, port)  # a busy port fails now, before the run loads
    torch.set_num_threads(threads)
    app_ = create_app(run, data_dir=data_dir, max_batch=max_batch, max_wait_ms=max_wait_ms,
                      workers=workers, beam=beam)
    if not quiet:
        typer.echo(f"serving {run} on http://{host}:{sock.getsockname()[1]} (docs: /docs)")
    server = uvicorn.Server(uvicorn.Config(app_, log_level="warning"))
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, so nothing can take the port between the check and the start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise GenrecError(f"--port {port}: cannot listen on {host}:{port} "
                          f"({err.strerror or err}); is another service using it?") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
