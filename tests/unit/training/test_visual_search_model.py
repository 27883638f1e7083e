"""The encoder, its loss and its export, on tiny CPU tensors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from training.export import ExportError, to_torchscript
from training.loop import cosine_lr
from training.visual_search.model import (
    ImageEncoder,
    as_model_input,
    augment_images,
    supervised_contrastive_loss,
)


def test_encoder_gives_unit_length_embeddings_and_scripts_faithfully() -> None:
    model = ImageEncoder(width=4, embedding_dim=8)
    images = torch.rand(3, 1, 28, 28)
    scripted = to_torchscript(model, images)
    embeddings = scripted(images)
    assert embeddings.shape == (3, 8)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)


def test_export_refuses_a_module_whose_script_diverges() -> None:
    class TrainingFlagDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + float(torch.jit.is_scripting())

    with pytest.raises(ExportError):
        to_torchscript(TrainingFlagDependent(), torch.zeros(2))


def test_loss_is_lower_when_classes_are_pulled_together() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert supervised_contrastive_loss(aligned, labels, 0.1) < supervised_contrastive_loss(mixed, labels, 0.1)


def test_loss_without_any_positive_pair_is_zero_not_nan() -> None:
    embeddings = torch.nn.functional.normalize(torch.randn(3, 4, requires_grad=True), dim=1)
    loss = supervised_contrastive_loss(embeddings, torch.tensor([0, 1, 2]), 0.1)
    assert loss.item() == 0.0
    loss.backward()


def test_augmentation_keeps_shape_and_range() -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    out = augment_images(images, max_shift=2.0, flip_prob=0.5, noise_std=0.05)
    assert out.shape == (5, 1, 28, 28)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(as_model_input(images), images.float().unsqueeze(1) / 255.0)


def test_no_augmentation_is_the_identity() -> None:
    images = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8)
    assert torch.allclose(augment_images(images, 0.0, 0.0, 0.0), as_model_input(images), atol=1e-5)


def test_cosine_learning_rate_starts_at_base_and_decays() -> None:
    rates = [cosine_lr(0.1, epoch, 4) for epoch in range(4)]
    assert rates[0] == 0.1
    assert rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx(0.05)
    assert cosine_lr(0.1, 2, 8) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 4)))
