"""Mean-pooled hashed n-gram embeddings -> MLP -> one logit per harm head (trained from scratch).

Chosen over the shipped MiniLM sentence encoder for serving cost: MiniLM embeds about 90 short
sentences a second on 2 CPUs, while this model scores thousands of emails a second, and on
spam the n-gram bag is already near the ceiling (see the TF-IDF baseline).
"""

from __future__ import annotations

import torch
from torch import nn

from training.moderation.preprocess import PAD_ID


class HashedNgramClassifier(nn.Module):
    """Token ids [N, L] (0 = padding) -> logits [N, heads]."""

    def __init__(self, buckets: int, embedding_dim: int, hidden_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(buckets, embedding_dim, mode="mean", padding_idx=PAD_ID)
        self.head = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, heads)
        )
        nn.init.normal_(self.embedding.weight, std=0.05)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(tokens))


class HarmScorer(nn.Module):
    """The served form: probabilities instead of logits, so thresholds read as probabilities."""

    def __init__(self, classifier: HashedNgramClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(tokens))
