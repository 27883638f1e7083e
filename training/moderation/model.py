"""Hashed n-gram ids -> (per-id evidence + pooled embeddings -> MLP) -> one logit per harm head.

Two channels over the same ids, trained together from scratch:
- a sparse linear one (one weight per hash bucket and head, summed): logistic regression over
  binary n-gram features, which is what makes the TF-IDF baseline strong on spam;
- an embedding bag whose sum is divided by sqrt(number of ids) before the MLP, so a long email
  gives a full-strength vector while a one-line message stays near the origin.
Both sum evidence rather than average it, so a text with few ids scores close to the prior
instead of being judged on the one or two n-grams it has (a mean made "Hello" score 1.0).

Chosen over the shipped MiniLM sentence encoder for serving cost: MiniLM embeds about 90 short
sentences a second on 2 CPUs, while this model scores thousands of emails a second.
"""

from __future__ import annotations

import torch
from torch import nn

from training.moderation.preprocess import PAD_ID


class HashedNgramClassifier(nn.Module):
    """Token ids [N, L] (0 = padding) -> logits [N, heads]."""

    def __init__(self, buckets: int, embedding_dim: int, hidden_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.padding = PAD_ID  # an attribute: TorchScript cannot read module globals
        self.evidence = nn.EmbeddingBag(buckets, heads, mode="sum", padding_idx=PAD_ID)
        self.embedding = nn.EmbeddingBag(buckets, embedding_dim, mode="sum", padding_idx=PAD_ID)
        self.head = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, heads)
        )
        nn.init.zeros_(self.evidence.weight)
        nn.init.normal_(self.embedding.weight, std=0.05)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        ids = (tokens != self.padding).sum(dim=1, keepdim=True).clamp(min=1).to(torch.float32)
        pooled = self.embedding(tokens) / ids.sqrt()
        return self.evidence(tokens) + self.head(pooled)


class TermLogistic(nn.Module):
    """Logistic regression over weighted term presence, L2-normalised, as tensors, so a model
    fitted by scikit-learn on the driver exports to TorchScript with the network.

    A text's feature for id ``i`` under head ``h`` is ``weights[h, i]`` when it holds ``i``
    (TF-IDF: the idf, the same for every head; NBSVM: the head's log-count ratio), divided by the
    L2 norm of its features. One summing embedding bag holds, per id, ``weight * coef`` for each
    head and then ``weight**2`` for each head: one pass gives the unnormalised logits and the
    squared norms they are divided by.
    """

    def __init__(self, weights: torch.Tensor, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        """``weights`` and ``coef`` [heads, buckets], ``intercept`` [heads] (scikit-learn's fit)."""
        super().__init__()
        self.heads = int(coef.shape[0])
        table = torch.cat([(weights * coef).T, (weights**2).T], dim=1).to(torch.float32)
        self.terms = nn.EmbeddingBag.from_pretrained(table, freeze=True, mode="sum", padding_idx=PAD_ID)
        self.register_buffer("intercept", intercept.to(torch.float32))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        sums = self.terms(tokens)
        norm = sums[:, self.heads :].sqrt().clamp(min=1e-12)
        return sums[:, : self.heads] / norm + self.intercept


class StackedClassifier(nn.Module):
    """A weighted sum of the network's and the linear model's standardised logits.

    Each logit is divided by its spread on validation emails first (the network's logits run an
    order of magnitude wider), so ``network_weight`` really is the network's share.
    """

    def __init__(
        self, network: nn.Module, linear: TermLogistic, scales: tuple[float, float], network_weight: float
    ) -> None:
        super().__init__()
        self.network = network
        self.linear = linear
        self.network_scale = network_weight / scales[0]
        self.linear_scale = (1.0 - network_weight) / scales[1]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.network_scale * self.network(tokens) + self.linear_scale * self.linear(tokens)


class HarmScorer(nn.Module):
    """The served form: probabilities instead of logits, so thresholds read as probabilities."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(tokens))
