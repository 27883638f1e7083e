"""visual-search: CNN embeddings of Fashion-MNIST, searched by cosine.

Trained with two losses on the same unit embeddings: a normalised softmax with a margin against
one learned proxy per class, and supervised contrastive (SupCon) over in-batch pairs. With labels
available, both beat SimCLR's instance positives by far in a few CPU epochs; the proxies add
what in-batch pairs lack, a fixed target per class. Mirrored images are label-preserving here, so
training flips at random and the searched embedding averages an image and its mirror.
Offline evaluation: the 10k test images are queries against the 60k training images (train + val
split) as the catalogue, relevance = same class, the neighbours put class-first as served
(``rerank.py``); the similarity order's metrics are logged beside, prefixed ``similarity_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from modelyard.data import load
from modelyard.models import VISUAL_SEARCH
from modelyard.settings import Settings
from training.base import Evaluation, ExportedModel, TaskData, TensorSpec, TrainTask
from training.export import to_torchscript
from training.metrics.retrieval import evaluate_retrieval
from training.profile import build_profile
from training.visual_search.model import (
    FlipAveragedEncoder,
    ProxyTrainedEncoder,
    as_model_input,
    augment_images,
    normalised_softmax_loss,
    supervised_contrastive_loss,
)
from training.visual_search.rerank import class_first
from training.visual_search.signals import signals, top_scores

CUT_OFF = 10
CURVE_MAX_K = 50
"""Neighbours fetched per test query: the precision curve's length, and at least ``VOTE_DEPTH``."""
VAL_SIZE = 5_000
SMOKE_SIZES = {"train": 4_000, "val": 1_000, "test": 1_000}
ENCODE_BATCH = 2_048
SPLIT_SEED = 0
PROFILE_IMAGES = 1_000
"""Validation images in the reference profile: each is searched against the whole catalogue
(1,000 x 60,000 similarities, a few seconds on CPU), and 1,000 already resolve a shift a window of
300 shows."""


class VisualSearchTask(TrainTask):
    name: ClassVar[str] = VISUAL_SEARCH.name
    headline_metric: ClassVar[str] = f"precision_at_{CUT_OFF}"
    higher_is_better: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]] = {
        "epochs": 4,
        "batch_size": 256,
        "lr": 4e-3,
        "lr_schedule": "one_cycle",
        "weight_decay": 1e-4,
        "width": 24,
        "embedding_dim": 128,
        "temperature": 0.1,
        "supcon_weight": 1.0,
        "proxy_weight": 1.0,
        "proxy_scale": 16.0,
        "proxy_margin": 0.1,
        "max_shift": 2.0,
        "flip_prob": 0.5,
        "noise_std": 0.02,
    }

    def __init__(self) -> None:
        # The raw-pixel search is the costliest step of evaluation; evaluate() (for the plot's
        # baseline curve) and baseline() share one result per dataset.
        self._raw_pixel_results: dict[tuple[str, int], tuple[dict[str, float], list[float]]] = {}
        # profile() reuses evaluate()'s catalogue embeddings of the same model (the costliest encoding).
        self._catalogue: tuple[nn.Module, torch.Tensor] | None = None

    def prepare(self, settings: Settings, smoke: bool) -> TaskData:
        fm = load("fashion-mnist", settings)
        order = np.random.default_rng(SPLIT_SEED).permutation(len(fm.train_labels))
        val_rows, train_rows = order[:VAL_SIZE], order[VAL_SIZE:]
        test_rows = np.arange(len(fm.test_labels))
        if smoke:
            train_rows, val_rows = train_rows[: SMOKE_SIZES["train"]], val_rows[: SMOKE_SIZES["val"]]
            test_rows = test_rows[: SMOKE_SIZES["test"]]

        def columns(images: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
            return {"image": images[rows], "label": labels[rows].astype(np.int64)}

        return TaskData(
            train=columns(fm.train_images, fm.train_labels, train_rows),
            val=columns(fm.train_images, fm.train_labels, val_rows),
            test=columns(fm.test_images, fm.test_labels, test_rows),
            digest=fm.digest,
            meta={"classes": list(fm.classes), "image_shape": list(fm.train_images.shape[1:])},
        )

    def build_model(self, config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        return ProxyTrainedEncoder(
            n_classes=len(meta["classes"]), width=config["width"], embedding_dim=config["embedding_dim"]
        )

    def augment(self, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {
            **batch,
            "image": augment_images(
                batch["image"], config["max_shift"], config["flip_prob"], config["noise_std"]
            ),
        }

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], config: dict[str, Any]) -> torch.Tensor:
        embeddings, cosines = model(as_model_input(batch["image"]))
        labels = batch["label"]
        return config["supcon_weight"] * supervised_contrastive_loss(
            embeddings, labels, config["temperature"]
        ) + config["proxy_weight"] * normalised_softmax_loss(
            cosines, labels, config["proxy_scale"], config["proxy_margin"]
        )

    def evaluate(self, model: nn.Module, data: TaskData, config: dict[str, Any]) -> Evaluation:
        encoder = search_encoder(model)
        queries = encode(encoder, data.test["image"])
        catalogue = encode(encoder, catalogue_images(data))
        self._catalogue = (model, catalogue)
        metrics, curve = evaluate_retrieval(
            queries, data.test["label"], catalogue, catalogue_labels(data), CUT_OFF, CURVE_MAX_K, class_first
        )
        _, baseline_curve = self._raw_pixels(data)
        return Evaluation(
            metrics=metrics,
            curves={
                "k": list(range(1, len(curve) + 1)),
                "precision": curve,
                "baseline_precision": baseline_curve,
            },
            artifacts={},
        )

    def profile(self, model: nn.Module, data: TaskData, evaluation: Evaluation) -> dict[str, Any] | None:
        """A sample of validation images as serving preprocesses them (pixel / 255), their
        embeddings, and the score of each one's first hit as served, in the catalogue without itself
        (a served query is not in the index)."""
        rows = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(data.val["image"]))[:PROFILE_IMAGES])
        images = data.val["image"][rows]
        encoder = search_encoder(model)
        embeddings = encode(encoder, images).cpu().numpy()
        cached_model, catalogue = self._catalogue or (None, None)
        if cached_model is not model or catalogue is None:
            catalogue = encode(encoder, catalogue_images(data))
        itself = len(data.train["image"]) + rows  # catalogue_images puts the val split after train
        best = top_scores(embeddings, catalogue.cpu().numpy(), catalogue_labels(data), exclude=itself)
        pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return build_profile(self.name, signals(pixels, embeddings, best), {})

    def baseline(self, data: TaskData) -> dict[str, float]:
        metrics, _ = self._raw_pixels(data)
        return metrics

    def _raw_pixels(self, data: TaskData) -> tuple[dict[str, float], list[float]]:
        key = (data.digest, len(data.test["label"]))
        if key not in self._raw_pixel_results:

            def flat(images: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(images.reshape(len(images), -1)).float()

            self._raw_pixel_results[key] = evaluate_retrieval(
                flat(data.test["image"]),
                data.test["label"],
                flat(catalogue_images(data)),
                catalogue_labels(data),
                CUT_OFF,
                CURVE_MAX_K,
                class_first,
            )
        return self._raw_pixel_results[key]

    def export(
        self, model: nn.Module, data: TaskData, config: dict[str, Any]
    ) -> tuple[list[ExportedModel], dict[str, Any]]:
        example = as_model_input(torch.from_numpy(data.test["image"][:32]))
        encoder = to_torchscript(search_encoder(model), example)
        exported = ExportedModel(
            name=VISUAL_SEARCH.encoder,
            module=encoder,
            inputs=[TensorSpec("image", "float32", (1, *data.meta["image_shape"]))],
            outputs=[TensorSpec("embedding", "float32", (config["embedding_dim"],))],
        )
        preprocessing = {
            "input": "image",
            "output": "embedding",
            "decode": "PNG or JPEG bytes -> grayscale (PIL mode 'L') -> resize to 28x28 (bilinear)",
            "polarity": "bright item on black, as in Fashion-MNIST (invert dark-on-white photos)",
            "tensor": "float32 [N, 1, 28, 28] = pixel / 255; mean/std normalisation is in the model",
            "height": 28,
            "width": 28,
            "channels": 1,
            "scale": 1.0 / 255.0,
            "embedding_dim": config["embedding_dim"],
            "embedding_normalised": True,
            "distance": "cosine",
            "classes": data.meta["classes"],
        }
        return [exported], preprocessing

    def plot(self, evaluation: Evaluation, path: Path) -> None:
        # lazy: matplotlib takes seconds to import; only this path needs it
        import matplotlib

        matplotlib.use("Agg")
        # lazy: matplotlib takes seconds to import; only this path needs it
        import matplotlib.pyplot as plt

        curves = evaluation.curves
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(curves["k"], curves["precision"], label="CNN embedding, flip-averaged (cosine)")
        ax.plot(curves["k"], curves["baseline_precision"], label="raw pixels (cosine)", linestyle="--")
        ax.axvline(CUT_OFF, color="grey", linewidth=0.8)
        ax.set(xlabel="k", ylabel="precision@k", title="visual-search: same-class precision@k", ylim=(0, 1))
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def search_space(self) -> dict[str, Any]:
        # lazy: ray takes seconds to import; only this path needs it
        from ray import tune

        return {
            "lr": tune.loguniform(1e-3, 1e-2),
            "width": tune.choice([16, 24, 32]),
            "weight_decay": tune.loguniform(1e-5, 1e-3),
        }


def search_encoder(model: nn.Module) -> FlipAveragedEncoder:
    """What is evaluated, indexed and served: the trained encoder without its class proxies,
    averaged over each image and its mirror."""
    if not isinstance(model, ProxyTrainedEncoder):
        raise TypeError(f"expected the model build_model makes, got {type(model).__name__}")
    return FlipAveragedEncoder(model.encoder)


def catalogue_images(data: TaskData) -> np.ndarray:
    """The searchable catalogue: every training image (train + val split, 60k in full)."""
    return np.concatenate([data.train["image"], data.val["image"]])


def catalogue_labels(data: TaskData) -> np.ndarray:
    return np.concatenate([data.train["label"], data.val["label"]])


@torch.inference_mode()
def encode(model: nn.Module, images: np.ndarray) -> torch.Tensor:
    """Embeddings of uint8 images [N, 28, 28], in batches on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    batches = torch.split(torch.from_numpy(images), ENCODE_BATCH)
    return torch.cat([model(as_model_input(batch.to(device))) for batch in batches])
