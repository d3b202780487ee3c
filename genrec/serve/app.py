"""The HTTP service: FastAPI over a run's live catalogue (see docs/service.md).

Every bad input is a 4xx whose body names the field ({"detail": "...", "field": "..."}); no
input can cause a 500. Recommendations are micro-batched (genrec.serve.batcher); item changes
go through the Catalog, which commits them to run/catalog.sqlite before acknowledging.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genrec.catalog import Catalog, ItemConflict, UnknownItem
from genrec.errors import GenrecError
from genrec.semantic_ids.assign import CodingError
from genrec.serve.batcher import MicroBatcher, Query
from genrec.serve.schemas import (
    AddedItem,
    AddItemsRequest,
    AddItemsResponse,
    Health,
    ItemInfo,
    Problem,
    RecommendRequest,
    RecommendResponse,
    Reloaded,
    Removed,
    add_items_request,
)
from genrec.serve.web import add_web, run_summary

log = logging.getLogger("genrec.serve")
MAX_BODY = 1 << 20  # bytes
UNPARSABLE = "There was an error parsing the body"  # FastAPI's 400 for an undecodable body


class ApiError(HTTPException):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(status, detail)
        self.field = field


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": Problem} for c in codes}


def create_app(run_dir: str | Path | None = None, *, catalog: Catalog | None = None,
               explain: bool = True, data_dir: str | Path | None = None,
               max_body: int = MAX_BODY, max_batch: int = 64, max_wait_ms: float = 10.0,
               workers: int = 1, beam: int | None = None, warm: bool = True) -> FastAPI:
    """The app for a run folder (or an open `catalog`); changes persist in the run folder.

    beam: beam width (default: the run's eval beam); workers: decodes that may run at once."""
    if catalog is None:
        if run_dir is None:
            raise ValueError("give run_dir or catalog")
        catalog = Catalog(run_dir, explain=explain, data_dir=data_dir, beam=beam)
    batcher = MicroBatcher(lambda: catalog.snapshot, max_batch, max_wait_ms, workers)
    _freeze_heap()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:  # the text encoder takes seconds to load: not on the first POST /items
            threading.Thread(target=_warm_encoder, args=(catalog,), daemon=True).start()
        yield
        await batcher.stop()
        catalog.close()

    app = FastAPI(title="genrec", version="0.1.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None,  # offline copies: genrec.serve.web
                  description="Generative recommendation over semantic IDs: recommend, add, "
                              "remove and explain items. Errors: {detail, field}.")
    app.state.catalog, app.state.batcher = catalog, batcher
    app.add_middleware(BodyLimit, max_bytes=max_body)
    _handlers(app)
    _routes(app, catalog, batcher)
    add_web(app, catalog)
    return app


def _routes(app: FastAPI, catalog: Catalog, batcher: MicroBatcher) -> None:
    item_id = PathParam(min_length=1, max_length=200, description="An item id.")

    @app.post("/recommend", response_model=RecommendResponse, response_model_exclude_none=True,
              responses=_errors(413, 422))
    async def recommend(req: RecommendRequest) -> dict[str, Any]:
        """Top-k next items for a history (excluding the history unless `exclude` is given)."""
        try:
            return await batcher.submit(Query(req.history, req.k, req.exclude, req.explain,
                                              req.fresh))
        except UnknownItem as err:
            raise ApiError(422, str(err), err.field) from None
        except GenrecError as err:  # fresh slots on a run that cannot rank new items
            raise ApiError(422, f"fresh: {err}", "fresh") from None

    async def add_items(req: AddItemsRequest) -> dict[str, Any]:
        """Add new items (coded with the frozen quantizer); recommendable at once."""
        records = [it.model_dump(exclude_none=True) for it in req.items]
        try:
            added = await run_in_threadpool(catalog.add, records)
        except ItemConflict as err:
            raise ApiError(409, str(err), err.field) from None
        except CodingError as err:
            raise ApiError(422 if err.field else 400, str(err), err.field) from None
        except GenrecError as err:  # the catalogue file busy or unreadable: retry later
            raise ApiError(503, str(err), "items") from None
        snap = catalog.snapshot
        items = [AddedItem(id=a.id, semantic_id=a.semantic_id, restored=a.restored,
                           path=snap.path(a.row)) for a in added]
        return {"items": items, "catalog_version": snap.version}

    # the body model knows the run's vector width, so the schema does too
    add_items.__annotations__["req"] = add_items_request(_vector_width(catalog))
    app.post("/items", response_model=AddItemsResponse, response_model_exclude_none=True,
             status_code=201, responses=_errors(400, 409, 413, 422, 503))(add_items)

    @app.get("/items/{item_id}", response_model=ItemInfo, response_model_exclude_none=True,
             responses=_errors(404, 410, 422))
    async def get_item(item_id: str = item_id) -> dict[str, Any]:
        """An item's title, semantic ID and path; 410 once removed (POST it again to restore)."""
        snap = catalog.snapshot
        row = snap.row_of.get(item_id)
        if row is None:
            raise ApiError(404, f"item_id: unknown item id {item_id!r}", "item_id")
        if not snap.active[row]:
            raise ApiError(410, f"item_id: item {item_id!r} was removed", "item_id")
        return snap.describe(row)

    @app.delete("/items/{item_id}", response_model=Removed, responses=_errors(404, 422, 503))
    async def delete_item(item_id: str = item_id) -> dict[str, Any]:
        """Stop recommending an item (out of stock); it stays readable in histories."""
        try:
            await run_in_threadpool(catalog.retire, [item_id])
        except UnknownItem as err:
            raise ApiError(404, f"item_id: {str(err).split(': ', 1)[-1]}", "item_id") from None
        except GenrecError as err:  # the catalogue file busy or unreadable: retry later
            raise ApiError(503, str(err), "item_id") from None
        return {"id": item_id, "removed": True, "catalog_version": catalog.snapshot.version}

    summary = run_summary(catalog)  # fixed for the life of the service

    @app.get("/health", response_model=Health, response_model_exclude_none=True)
    async def health() -> dict[str, Any]:
        snap = catalog.snapshot
        return {"status": "ok", "items": len(snap.item_ids), "active_items": snap.n_active,
                "catalog_version": snap.version, "model_version": snap.model_version,
                "window": snap.window, "requests": batcher.requests,
                "batches": batcher.batches,
                "mean_batch": round(batcher.requests / max(batcher.batches, 1), 2),
                "decode_ms": round(1e3 * batcher.decode_seconds / max(batcher.batches, 1), 1),
                **summary}

    @app.post("/admin/reload", response_model=Reloaded)
    async def reload() -> dict[str, Any]:
        """Load the run folder's model.safetensors again (after retraining) and swap it in;
        requests in flight finish on the model they started with."""
        snap = await run_in_threadpool(catalog.reload_model)
        return {"model_version": snap.model_version, "catalog_version": snap.version}


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts, fields = [], []
        for err in exc.errors()[:5]:
            field = _field(err.get("loc", ()))
            fields.append(field)
            msg = err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                msg = f"malformed JSON ({err.get('ctx', {}).get('error', 'decode error')})"
            parts.append(f"{field}: {msg}")
        return JSONResponse({"detail": "; ".join(parts), "field": fields[0] if fields else None},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == UNPARSABLE:  # e.g. a body not UTF-8
            return JSONResponse({"detail": "body: malformed JSON (not decodable text)",
                                 "field": "body"}, status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just the first route's
            headers["Allow"] = ", ".join(_methods(request))
        # every body names a field: routing errors name the path or the method
        field = getattr(exc, "field", None) or {404: "path", 405: "method"}.get(
            exc.status_code, "body")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"path: no endpoint {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"method: {request.method} is not allowed on {request.url.path}"
        return JSONResponse({"detail": detail, "field": field},
                            status_code=exc.status_code, headers=headers)


def _methods(request: Request) -> list[str]:
    """Methods the app answers on this request's path."""
    found: set[str] = set()
    for route in request.app.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            found |= set(getattr(route, "methods", None) or ())
    return sorted(found)


def _field(loc: tuple | list) -> str:
    """("body", "items", 0, "title") -> "items[0].title"; ("body",) -> "body"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "path", "query") and len(parts) > 1:
        parts = parts[1:]
    if parts and isinstance(parts[0], int):  # a position in malformed JSON
        return "body"
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


class BodyLimit:
    """413 for a body over `max_bytes`: by Content-Length up front, else while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = {"detail": f"body: {int(declared)} bytes is over the {self.max_bytes}-byte "
                              "limit", "field": "body"}
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # chunked upload without a length
                raise ApiError(413, f"body: over the {self.max_bytes}-byte limit", "body")
            return message

        await self.app(scope, limited, send)


def _vector_width(catalog: Catalog) -> int | None:
    try:
        return catalog.coder().dim
    except CodingError:  # this run cannot add items; POST /items says why
        return None


def _warm_encoder(catalog: Catalog) -> None:
    try:
        coder = catalog.coder()
        if coder.dim == 384:
            coder.warm()
    except Exception as err:  # adding items will report it; serving goes on
        log.info("new items cannot be coded: %s", err)
    _freeze_heap()


def _freeze_heap() -> None:
    """Move every object alive now (catalogue, model, encoder) out of the garbage collector's
    reach: a full collection then scans only what requests allocate, instead of stalling a
    decode for a scan of the whole catalogue (the p99 of a busy service)."""
    gc.collect()
    gc.freeze()
