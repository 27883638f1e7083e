"""The encoder, its loss and its export, on tiny CPU tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.export import ExportError, to_torchscript
from training.visual_search.model import (
    FlipAveragedEncoder,
    ImageEncoder,
    ProxyTrainedEncoder,
    as_model_input,
    augment_images,
    normalised_softmax_loss,
    supervised_contrastive_loss,
)
from training.visual_search.task import search_encoder


def test_encoder_gives_unit_length_embeddings_and_scripts_faithfully() -> None:
    model = ImageEncoder(width=4, embedding_dim=8)
    images = torch.rand(3, 1, 28, 28)
    scripted = to_torchscript(model, images)
    embeddings = scripted(images)
    assert embeddings.shape == (3, 8)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)


def test_search_embedding_is_the_same_for_an_image_and_its_mirror_and_scripts_faithfully() -> None:
    model = ProxyTrainedEncoder(n_classes=3, width=4, embedding_dim=8).eval()
    images = torch.rand(3, 1, 28, 28)
    scripted = to_torchscript(search_encoder(model), images)
    assert torch.allclose(scripted(images), scripted(images.flip(-1)), atol=1e-5)
    assert torch.allclose(scripted(images).norm(dim=1), torch.ones(3), atol=1e-5)
    # The encoder alone is not mirror-invariant: the averaging is what makes it so.
    assert not torch.allclose(model.encoder(images), model.encoder(images.flip(-1)), atol=1e-3)
    assert isinstance(search_encoder(model), FlipAveragedEncoder)


def test_search_encoder_refuses_a_model_without_proxies() -> None:
    with pytest.raises(TypeError):
        search_encoder(ImageEncoder(width=4, embedding_dim=8))


def test_proxy_model_gives_each_image_a_cosine_per_class() -> None:
    embeddings, cosines = ProxyTrainedEncoder(n_classes=3, width=4, embedding_dim=8)(torch.rand(5, 1, 28, 28))
    assert (embeddings.shape, cosines.shape) == ((5, 8), (5, 3))
    assert cosines.abs().max() <= 1.0 + 1e-5


def test_normalised_softmax_is_lower_for_images_at_their_own_proxy_and_the_margin_raises_it() -> None:
    labels = torch.tensor([0, 1])
    own = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    other = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert normalised_softmax_loss(own, labels, 16.0, 0.0) < normalised_softmax_loss(other, labels, 16.0, 0.0)
    assert normalised_softmax_loss(own, labels, 16.0, 0.2) > normalised_softmax_loss(own, labels, 16.0, 0.0)


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
