"""Assemble the application: settings, store, service, routers, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette_compress import CompressMiddleware

from app.api import browser_policy, errors, health, ratelimit, sessions, transport, views
from app.api.limits import BodySizeLimit
from app.paths import STATIC_DIR
from app.sessions import training
from app.sessions.service import SessionService
from app.sessions.stores import open_store
from app.settings import Settings, get_settings
from app.web import routes as web
from app.web import templating
from app.web.panels import error_html, error_page

COMPRESS_FROM = 500  # bytes: a smaller body is sent as it is (compressing gains nothing)
BROTLI = 3  # quality: 0.38 s instead of 1.87 s for a 12 MB trace, about 9 % larger than 4
GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)
DESCRIPTION = """See how a neural network learns: every number of the forward pass, of
backpropagation and of the update, exact. Create a session (`{"example": "origin"}` is the
symmetry question), step it, and read its trace."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return the application wired to the settings' store."""
    settings = settings or get_settings()
    store = open_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.sweep()
        templating.environment()  # compiled now: among the objects frozen next
        settle_garbage_collector()
        yield
        training.shutdown()
        store.close()

    app = FastAPI(title="Backprop Playground", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.service = SessionService(store, settings)
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(views.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _docs(app)
    # Pages, fragments, JSON, CSS and JS compressed (zstd, brotli or gzip, as the client
    # accepts); the live streams too, each event flushed as it goes.
    app.add_middleware(CompressMiddleware, minimum_size=COMPRESS_FROM, brotli_quality=BROTLI)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    ratelimit.install(app, settings.create_rate, settings.create_rate_window,
                      page=error_page, beside=error_html)
    transport.install(app, settings.max_connections, settings.max_body_bytes)
    errors.install(app, page=error_page)  # its answers carry X-Request-ID, errors the shape
    browser_policy.install(app)  # outermost: its headers go on every answer
    return app


def settle_garbage_collector() -> None:
    """Move every object of the started app out of the collector's sight (`gc.freeze`).

    The framework, the schemas, NumPy and the templates leave a few hundred thousand
    long-lived objects; each full collection walked them all — about 50 ms with every
    request in the process waiting, once a second under load (the API's p99). Frozen,
    they are never scanned again; what requests create is collected as before, though
    less often (`GC_YOUNG_THRESHOLD` allocations instead of 700: a request allocates
    hundreds, and each young collection scanned the objects of the requests in flight).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from vendored assets (no CDN)."""

    @app.get("/docs", include_in_schema=False)
    def get_docs() -> HTMLResponse:
        return _offline(get_swagger_ui_html(
            openapi_url="/openapi.json", title="Backprop Playground — API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg"))

    @app.get("/redoc", include_in_schema=False)
    def get_redoc() -> HTMLResponse:
        return _offline(get_redoc_html(
            openapi_url="/openapi.json", title="Backprop Playground — API",
            redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
            redoc_favicon_url="/static/favicon.svg", with_google_fonts=False))


def _offline(page: HTMLResponse) -> HTMLResponse:
    """Forbid the docs pages any request off this server (ReDoc links a logo on a CDN)."""
    page.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'")
    return page


