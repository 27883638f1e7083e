"""The console's routes: the page and its files without a key, its data behind the API key.

The page must load before anyone has typed a key, so only the shipped static files are open;
everything that reads data (gallery, thumbnails, live traffic) takes the client key, like the
model routes the page calls. No route takes a file path: static files are a fixed table read at
start, thumbnails are looked up by integer id. Every answer carries a strict
Content-Security-Policy (only this origin's scripts, styles and connections; images also from
``blob:``, which is how the page shows thumbnails it fetched with the key).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from serving.gateway.errors import GatewayError

from .catalogue import GALLERY_MAX, Catalogue
from .traffic import TrafficView

STATIC_DIR = Path(__file__).parent / "static"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
_NO_STORE = {**SECURITY_HEADERS, "cache-control": "no-store"}


def static_files(folder: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """``{file name: (bytes, media type)}`` of the shipped files, read once."""
    return {
        path.name: (path.read_bytes(), _MEDIA_TYPES[path.suffix])
        for path in sorted(folder.iterdir())
        if path.suffix in _MEDIA_TYPES
    }


def page_router() -> APIRouter:
    """``/ui/`` and its static files: open, so the page can ask for the key."""
    files = static_files()
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("")
    async def to_page() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=308)

    @router.get("/")
    async def page() -> Response:
        return _static(files, "index.html")

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        return _static(files, name)

    return router


def _static(files: dict[str, tuple[bytes, str]], name: str) -> Response:
    if name not in files:
        raise GatewayError(404, f"no console file {name!r}")
    content, media_type = files[name]
    return Response(content, media_type=media_type, headers={**SECURITY_HEADERS, "cache-control": "no-cache"})


def data_router(catalogue: Catalogue, traffic: TrafficView) -> APIRouter:
    """The console's data (include it behind the API key)."""
    router = APIRouter(prefix="/ui/api", tags=["console"])

    @router.get("/gallery")
    async def gallery(request: Request) -> JSONResponse:
        """Test images to query with: ``label`` (0-9) filters, ``count`` (1-48) and ``offset`` page."""
        query = request.query_params
        label = _int_param(query.get("label"), "label", 0, 9, None)
        count = _int_param(query.get("count"), "count", 1, GALLERY_MAX, 12)
        offset = _int_param(query.get("offset"), "offset", 0, 10_000, 0)
        images = catalogue.gallery(label, count, offset)
        return JSONResponse({"images": [image.__dict__ for image in images]}, headers=_NO_STORE)

    @router.get("/images/{image_id}", responses={200: {"content": {"image/png": {}}}})
    async def image(image_id: str) -> Response:
        """Catalogue image ``image_id`` (a visual-search hit's ``id``) as a 28x28 PNG."""
        number = _parse_int(image_id, "image id", 0, None, status=404)
        return Response(catalogue.thumbnail(number), media_type="image/png", headers=_NO_STORE)

    @router.get("/traffic")
    async def live_traffic() -> JSONResponse:
        """Per model: the split and each variant's recent rate, error rate and p99."""
        return JSONResponse(traffic.report(), headers=_NO_STORE)

    return router


def _int_param(raw: str | None, name: str, low: int, high: int, default: int | None) -> int | None:
    """An optional query parameter: ``default`` when absent or empty."""
    return default if raw is None or raw == "" else _parse_int(raw, name, low, high)


def _parse_int(raw: str, name: str, low: int, high: int | None, status: int = 400) -> int:
    """``raw`` as an int in [low, high] (None: no upper bound), else a ``status`` refusal.

    Parsed here rather than declared, so a refusal has the gateway's ``{"error": ...}`` shape."""
    within = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise GatewayError(status, f"{name} must be {within}, got {raw[:40]!r}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise GatewayError(status, f"{name} must be {within}, got {value}")
    return value
