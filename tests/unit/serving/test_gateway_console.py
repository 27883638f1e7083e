"""The console's routes on the gateway: the page is open, its data needs the API key, bad input
is a 4xx in the gateway's error shape, and no route reads a file a client names."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serving.gateway.console.router import SECURITY_HEADERS, STATIC_DIR
from tests.unit.serving.gateway_harness import ADMIN_KEY, API_KEY, GatewayFactory

pytestmark = pytest.mark.anyio
DATA_ROUTES = ("/ui/api/gallery", "/ui/api/images/3", "/ui/api/traffic")
TRAIN, TEST = 3, 5


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    """A tiny prepared Fashion-MNIST: image i is filled with the value i, labels cycle 0, 1, 2."""
    images = np.stack([np.full((28, 28), i, dtype=np.uint8) for i in range(TRAIN + TEST)])
    labels = np.arange(TRAIN + TEST, dtype=np.uint8) % 3
    for split, rows in (("train", slice(0, TRAIN)), ("test", slice(TRAIN, None))):
        np.save(tmp_path / f"{split}_images.npy", images[rows])
        np.save(tmp_path / f"{split}_labels.npy", labels[rows])
    return tmp_path


async def test_page_and_its_files_load_without_a_key_under_a_strict_policy(gateway: GatewayFactory) -> None:
    async with gateway(authenticated=False, console=True) as client:
        page = await client.get("/ui/")
        script = await client.get("/ui/static/console.js")
        redirect = await client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/ui/static/console.js" in page.text
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"


async def test_console_is_absent_when_switched_off(gateway: GatewayFactory) -> None:
    async with gateway(console=False) as client:
        assert (await client.get("/ui/")).status_code == 404
        assert (await client.get("/ui/api/traffic")).status_code == 404


@pytest.mark.parametrize("path", DATA_ROUTES)
@pytest.mark.parametrize(
    "headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ADMIN_KEY}], ids=["none", "wrong", "admin"]
)
async def test_every_data_route_needs_the_client_key(
    gateway: GatewayFactory, catalogue_dir: Path, path: str, headers: dict[str, str]
) -> None:
    async with gateway(authenticated=False, console=True, catalogue_dir=catalogue_dir) as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/..%2Frouter.py",
        "/ui/static/%2e%2e%2f%2e%2e%2fapp.py",
        "/ui/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/ui/static/console.js%00.html",
        "/ui/api/images/..%2F..%2F..%2Fetc%2Fpasswd",
        "/ui/api/images/%2e%2e%2ftrain_images.npy",
        "/ui/api/images/train_images.npy",
        "/ui/api/images/-1",
        "/ui/api/images/1e3",
        "/ui/api/images/%EF%BC%93",  # a full-width digit three: isdigit() says yes, ASCII says no
    ],
)
async def test_no_route_reads_a_file_the_client_names(
    gateway: GatewayFactory, catalogue_dir: Path, path: str
) -> None:
    async with gateway(console=True, catalogue_dir=catalogue_dir) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert "root:" not in response.text and "NUMPY" not in response.text


async def test_thumbnail_is_the_catalogue_image_of_that_id(
    gateway: GatewayFactory, catalogue_dir: Path
) -> None:
    async with gateway(console=True, catalogue_dir=catalogue_dir) as client:
        train, test = await client.get("/ui/api/images/2"), await client.get(f"/ui/api/images/{TRAIN + 1}")
        beyond = await client.get(f"/ui/api/images/{TRAIN + TEST}")
    for response, value in ((train, 2), (test, TRAIN + 1)):
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "no-store"
        pixels = np.asarray(Image.open(io.BytesIO(response.content)))
        assert pixels.shape == (28, 28) and (pixels == value).all()
    assert beyond.status_code == 404 and "0 to 7" in beyond.json()["error"]


async def test_gallery_lists_test_images_of_the_asked_class(
    gateway: GatewayFactory, catalogue_dir: Path
) -> None:
    async with gateway(console=True, catalogue_dir=catalogue_dir) as client:
        every = (await client.get("/ui/api/gallery")).json()["images"]
        ones = (await client.get("/ui/api/gallery", params={"label": 1})).json()["images"]
        paged = (await client.get("/ui/api/gallery", params={"count": 2, "offset": 1})).json()["images"]
    assert [image["id"] for image in every] == list(range(TRAIN, TRAIN + TEST))
    assert [(image["id"], image["label"], image["class_name"]) for image in ones] == [
        (4, 1, "Trouser"),
        (7, 1, "Trouser"),
    ]
    assert [image["id"] for image in paged] == [TRAIN + 1, TRAIN + 2]


@pytest.mark.parametrize(
    "params",
    [{"label": "10"}, {"label": "-1"}, {"label": "abc"}, {"count": "0"}, {"count": "49"}, {"offset": "1.5"}],
)
async def test_gallery_refuses_bad_parameters_with_400(
    gateway: GatewayFactory, catalogue_dir: Path, params: dict[str, str]
) -> None:
    async with gateway(console=True, catalogue_dir=catalogue_dir) as client:
        response = await client.get("/ui/api/gallery", params=params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]


@pytest.fixture
def catalogue_later(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the dataset will be, not prepared yet."""
    return tmp_path_factory.mktemp("later") / "fashion-mnist"


async def test_without_a_dataset_images_are_404_until_it_is_prepared(
    gateway: GatewayFactory, catalogue_later: Path, catalogue_dir: Path
) -> None:
    async with gateway(console=True, catalogue_dir=catalogue_later) as client:
        gallery, image = await client.get("/ui/api/gallery"), await client.get("/ui/api/images/1")
        for response in (gallery, image):
            assert response.status_code == 404 and "yard data prepare" in response.json()["error"]
        catalogue_dir.rename(catalogue_later)  # yard data prepare, while the gateway runs
        assert (await client.get("/ui/api/images/1")).status_code == 200


async def test_traffic_counts_what_the_gateway_served_per_version(gateway: GatewayFactory) -> None:
    async with gateway(console=True) as client:
        first = (await client.get("/ui/api/traffic")).json()
        for _ in range(3):
            await client.post("/v1/models/moderation:predict", json={"instances": ["hi"]})
        await client.post("/v1/models/moderation:predict?status=500", json={"instances": ["hi"]})
        second = (await client.get("/ui/api/traffic")).json()
    models = {entry["model"]: entry for entry in second["models"]}
    assert first["window_s"] is None  # nothing to difference against on the first read
    assert set(models) == {"visual-search", "moderation", "ranking"}
    [stable] = models["moderation"]["variants"]
    assert (stable["role"], stable["version"], stable["requests"]) == ("stable", "1", 4)
    assert stable["error_rate"] == 0.25 and stable["p99_ms"] is not None
    assert models["ranking"]["variants"][0]["requests"] == 0 and models["moderation"]["mode"] is None


def test_the_page_keeps_the_key_in_the_tab_and_sends_it_as_a_header() -> None:
    script = (STATIC_DIR / "console.js").read_text()
    assert "sessionStorage" in script and "localStorage" not in script
    assert '"x-api-key": key' in script
    assert "innerHTML" not in script  # answers are drawn as text, never parsed as markup
    assert API_KEY not in script
