"""A broken model version offered as a canary on the shared stack (``served_stack``): its TorchScript
cut short, not TorchScript at all, or its files gone, in the artifact store. ``yard rollout start``
must refuse it with an error naming the version, the champion must answer 200 all along, and
nothing may be left half-changed: no candidate process, no rollout, and Triton's repository back
to the champion alone (a refused version left there would fail Triton's next start).
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
import mlflow
import pytest

from modelyard.registry import Registry
from rollout.admin_client import GatewayAdmin
from serving.stack.candidates import CANDIDATES_FILE
from serving.stack.client import read_admin_key
from serving.stack.state import read_state, serving_dir
from tests.integration.faults import key_header, load_in_background, moderation_request, require_served
from tests.integration.test_rollout_stack import yard


def served_versions(serve_root: Path, triton_model: str) -> list[int]:
    """The version folders Triton may load for ``triton_model``."""
    return sorted(int(p.name) for p in (serve_root / triton_model).iterdir() if p.name.isdigit())


pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "moderation"
TORCHSCRIPT = Path("model_repository") / MODEL / "1" / "model.pt"


def truncate(stored: Path) -> None:
    data = (stored / TORCHSCRIPT).read_bytes()
    (stored / TORCHSCRIPT).write_bytes(data[: len(data) // 2])


def replace_with_a_zip_of_junk(stored: Path) -> None:
    """Still a zip (so only loading it can tell), but not TorchScript."""
    (stored / TORCHSCRIPT).unlink()
    with zipfile.ZipFile(stored / TORCHSCRIPT, "w") as archive:
        archive.writestr("archive/data.pkl", b"not a pickle")


def delete(stored: Path) -> None:
    shutil.rmtree(stored)


def register_a_copy(settings, champion_files: Path) -> tuple[int, Path]:
    """A new version with the champion's files; returns it and where the artifact store keeps them."""
    registry = Registry(settings)
    with registry.start_run(MODEL, run_name="broken-copy") as run:
        mlflow.log_artifacts(str(champion_files), artifact_path="model")
    version = registry.register(run.info.run_id, "model", MODEL).version
    return version, Path(urlparse(registry.resolve(f"{MODEL}/{version}").source).path)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        pytest.param(truncate, "is empty or corrupt", id="truncated"),
        pytest.param(
            replace_with_a_zip_of_junk, "Triton could not load moderation versions", id="not-torchscript"
        ),
        pytest.param(delete, "its files are missing from the artifact store", id="deleted-from-store"),
    ],
)
def test_a_broken_candidate_is_refused_and_the_champion_keeps_serving(
    served_stack, corrupt: Callable[[Path], None], expected: str
) -> None:
    settings, _, _ = served_stack
    require_served(served_stack, MODEL)
    state = read_state(settings)
    champion = state.models[MODEL].version
    broken, stored = register_a_copy(settings, Path(state.models[MODEL].artifact_dir))
    corrupt(stored)
    headers = key_header(settings)
    admin = GatewayAdmin(state.gateway_url, read_admin_key(settings))
    routes_before = admin.view(MODEL)
    candidates = serving_dir(settings) / CANDIDATES_FILE
    candidates_before = candidates.read_text() if candidates.is_file() else None

    with load_in_background(state.gateway_url, moderation_request, 2, headers) as load:
        started = yard(
            settings, "start", MODEL, "--version", str(broken), "--percent", "50", "--ready-timeout", "120"
        )
    champion_load = load.result()

    assert started.returncode != 0, started.stdout
    error = " ".join(started.stderr.split())  # rich wraps long messages
    assert f"version {broken}" in error and expected in error, error[-1500:]
    assert champion_load.requests > 0 and champion_load.errors == 0, champion_load.failures.most_common(3)
    assert admin.view(MODEL) == routes_before
    assert (candidates.read_text() if candidates.is_file() else None) == candidates_before
    assert Registry(settings).resolve(f"{MODEL}@champion").version == champion
    repository = Path(state.model_repository)
    assert served_versions(repository, MODEL) == [champion]
    assert f"versions: [ {champion} ]" in (repository / MODEL / "config.pbtxt").read_text()
    triton = state.children["triton"].url
    assert httpx.get(f"{triton}/v2/models/{MODEL}/versions/{champion}/ready").status_code == 200
