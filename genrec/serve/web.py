"""The web page of `genrec serve` (GET /), the JSON it reads (GET /items?q=, GET /tree) and
offline API docs (/docs, /redoc). Every asset ships inside the package: the page's own files in
genrec/serve/static, Swagger UI and ReDoc from the fastapi-offline package; nothing is fetched
from another host, so the page works with the machine offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import FastAPI, HTTPException, Query
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from genrec.catalog import Catalog, Snapshot
from genrec.semantic_ids.assign import CodingError
from genrec.serve.browse import Browser, Node
from genrec.serve.schemas import Problem

STATIC = Path(__file__).parent / "static"
DOCS_STATIC = Path(fastapi_offline.__file__).parent / "static"
SEARCH_MAX = 100  # results per page
OFFSET_MAX = 10_000
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
# The page loads only its own files: the browser itself refuses anything from another host.
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class WebError(HTTPException):
    """A 4xx that names its field (the app's handler puts `field` into the body)."""

    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__(status, detail)
        self.field = field


class ItemRef(BaseModel):
    id: str
    title: str


class ItemHit(BaseModel):
    id: str
    title: str
    brand: str | None = None
    semantic_id: list[int]
    active: bool = Field(description="False once removed (still usable in a history).")
    added: bool = Field(description="Added after training.")
    path: str | None = Field(None, description="Readable semantic-ID path.")


class ItemSearchResponse(BaseModel):
    q: str
    total: int = Field(description="Items matching the query (all pages).")
    offset: int
    limit: int
    items: list[ItemHit]


class TreeNode(BaseModel):
    code: int
    prefix: list[int] = Field(description="The node's code prefix: the parent's plus `code`.")
    label: str | None = Field(None, description="Readable label of the prefix.")
    items: int = Field(description="Items under the node, removed ones included.")
    active_items: int
    leaf: bool = Field(description="The last level: the node is one item, `item`.")
    examples: list[ItemRef] = Field(description="A few items under the node.")
    item: ItemRef | None = None


class TreeResponse(BaseModel):
    prefix: list[int]
    labels: list[str | None] = Field(description="The label of each code of `prefix`.")
    levels: int = Field(description="Codes per semantic ID (the last disambiguates).")
    items: int
    active_items: int
    children: list[TreeNode]


def add_web(app: FastAPI, catalog: Catalog) -> None:
    """GET /, its static files, GET /items (search), GET /tree and the offline docs."""
    browser = Browser(catalog.snapshot)
    app.state.browser = browser
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/static-docs", StaticFiles(directory=DOCS_STATIC), name="static-docs")
    problems: dict[int | str, dict[str, Any]] = {c: {"model": Problem} for c in (404, 422)}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP,
                                                           "Cache-Control": "no-cache"})

    @app.get("/items", response_model=ItemSearchResponse, response_model_exclude_none=True,
             responses=problems)
    async def search_items(
        q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"\S",
                                description="Words that start a word of the item's id, "
                                            "title or brand (all must match).")],
        limit: Annotated[int, Query(ge=1, le=SEARCH_MAX)] = 20,
        offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    ) -> dict[str, Any]:
        """Find items by id, title or brand; the id itself first, then whole-word matches."""
        snap = catalog.snapshot
        total, rows = browser.search(snap, q, limit, offset)
        return {"q": q, "total": total, "offset": offset, "limit": limit,
                "items": [_hit(snap, r) for r in rows]}

    @app.get("/tree", response_model=TreeResponse, response_model_exclude_none=True,
             responses=problems)
    async def tree(
        prefix: Annotated[str, Query(max_length=200, pattern=r"^(\d{1,9}(,\d{1,9})*)?$",
                                     description="Comma-separated codes, e.g. 12,5; "
                                                 "empty: the first level.")] = "",
    ) -> dict[str, Any]:
        """The children of a semantic-ID prefix, each with its label, item count and a few
        example items; at the last level each child is one item."""
        snap = catalog.snapshot
        if (answer := browser.cached(snap, prefix)) is not None:
            return answer
        codes = [int(c) for c in prefix.split(",")] if prefix else []
        hier = browser.tree(snap)
        if len(codes) >= hier.levels:
            raise WebError(422, f"prefix: at most {hier.levels - 1} codes (got {len(codes)})",
                           "prefix")
        lo, hi = hier.span(codes)
        if lo == hi:
            raise WebError(404, f"prefix: no item has the prefix {prefix!r}", "prefix")
        nodes = hier.children(codes, snap.active)
        leaf = len(codes) == hier.levels - 1
        answer = {"prefix": codes, "labels": [_label(snap, codes[:d + 1])
                                              for d in range(len(codes))],
                  "levels": hier.levels, "items": hi - lo,
                  "active_items": sum(n.active_items for n in nodes),
                  "children": [_node(snap, codes, n, leaf) for n in nodes]}
        browser.remember(snap, prefix, answer)
        return answer

    _docs(app)


def _title(snap: Snapshot, row: int) -> str:
    return snap.records[row].get("title") or snap.item_ids[row]


def _hit(snap: Snapshot, row: int) -> dict[str, Any]:
    brand = snap.records[row].get("brand")
    return {"id": snap.item_ids[row], "title": _title(snap, row),
            "brand": str(brand) if brand else None, "semantic_id": snap.codes[row].tolist(),
            "active": bool(snap.active[row]), "added": row >= snap.n_trained,
            "path": snap.path(row)}


def _label(snap: Snapshot, prefix: list[int]) -> str | None:
    if snap.labels is None:
        return None
    if len(prefix) > snap.labels.levels:  # the disambiguation token
        return f"#{prefix[-1]}"
    return snap.labels.names.get(tuple(prefix))


def _node(snap: Snapshot, prefix: list[int], node: Node, leaf: bool) -> dict[str, Any]:
    refs = [{"id": snap.item_ids[r], "title": _title(snap, r)} for r in node.rows]
    out = {"code": node.code, "prefix": [*prefix, node.code],
           "label": _label(snap, [*prefix, node.code]), "items": node.items,
           "active_items": node.active_items, "leaf": leaf, "examples": refs}
    return out | ({"item": refs[0]} if leaf else {})


def run_summary(catalog: Catalog) -> dict[str, Any]:
    """What the status line shows besides counts: the run, its model, what it can do."""
    snap = catalog.snapshot
    out: dict[str, Any] = {"run": catalog.run_dir.resolve().name,
                           "fresh": bool(snap.content is not None and snap.rec is not None
                                         and snap.rec.model.cfg.item_loss > 0)}
    if snap.rec is not None:
        cfg = snap.rec.model.cfg
        sizes = "/".join(map(str, cfg.level_sizes))
        out["model"] = (f"d_model {cfg.d_model}, {cfg.encoder_layers}+{cfg.decoder_layers} "
                        f"layers, {catalog.index.method} IDs {sizes}, beam {snap.rec.beam}")
    try:
        catalog.coder()
        out["add_items"] = True
    except CodingError:
        out["add_items"] = False
    return out


def _docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the fastapi-offline package's copies (FastAPI's own pages
    load them, and a favicon, from CDNs; ReDoc also from Google Fonts)."""
    favicon = "/static-docs/favicon.png"
    redoc_js: list[bytes] = []  # read on first use
    params = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}  # no validator.swagger.io

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url="/static-docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static-docs/swagger-ui.css",
                                   swagger_favicon_url=favicon, swagger_ui_parameters=params)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json",
                              title=f"{app.title} - ReDoc", redoc_js_url="/redoc.js",
                              redoc_favicon_url=favicon, with_google_fonts=False)

    @app.get("/redoc.js", include_in_schema=False)
    async def redoc_script() -> Response:
        if not redoc_js:
            redoc_js.append(_offline_redoc())
        return Response(redoc_js[0], media_type="text/javascript",
                        headers={"Cache-Control": "max-age=3600"})


def _offline_redoc() -> bytes:
    """ReDoc's bundle with its one remote asset, the sidebar's Redocly logo (always fetched
    from cdn.redoc.ly; no option turns it off), replaced by the packaged favicon."""
    code = (DOCS_STATIC / "redoc.standalone.js").read_bytes()
    return code.replace(REDOC_LOGO, b"/static-docs/favicon.png")
