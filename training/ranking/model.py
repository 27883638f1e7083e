"""DCN-v2 click model + two towers over one shared feature-embedding table.

Sharing the table is the multi-task part: clicks (all rated rows) and retrieval (positives only)
both shape the id embeddings. The towers exist for that signal alone (without it the click model's
test AUC drops, docs/models.md): a version exports the click model only, with its copy of the table.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from training.ranking.features import PAD_ID


class FieldEmbedding(nn.Module):
    """Ids [N, sum of widths] -> field vectors [N, fields, D]. The ids come in blocks of
    ``(width, pooled)``: a plain block gives one field per id, a pooled block (genres, recent
    items) is averaged into one field, padding excluded."""

    def __init__(self, table: nn.Embedding, groups: list[tuple[int, bool]]) -> None:
        super().__init__()
        self.table = table
        self.widths = [width for width, _ in groups]
        self.pooled = [pooled for _, pooled in groups]
        self.pad_id = PAD_ID
        self.fields = sum(1 if pooled else width for width, pooled in groups)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        vectors = self.table(ids)
        parts: list[torch.Tensor] = []
        start = 0
        for index in range(len(self.widths)):
            end = start + self.widths[index]
            if self.pooled[index]:
                mask = (ids[:, start:end] != self.pad_id).unsqueeze(-1).to(vectors.dtype)
                pooled = (vectors[:, start:end] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                parts.append(pooled.unsqueeze(1))
            else:
                parts.append(vectors[:, start:end])
            start = end
        return torch.cat(parts, dim=1)


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for into, out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(into, out), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class Tower(nn.Module):
    """Field embeddings -> MLP -> L2-normalised vector (dot product = cosine for Qdrant)."""

    def __init__(self, fields: FieldEmbedding, hidden: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.fields = fields
        in_dim = fields.fields * fields.table.embedding_dim
        self.mlp = nn.Sequential(mlp([in_dim, hidden], dropout), nn.Linear(hidden, out_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(self.fields(ids).flatten(1)), dim=1)


class CrossLayer(nn.Module):
    """DCN-v2 cross layer: x_{l+1} = x0 * (W x_l + b) + x_l (explicit bounded-degree interactions)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(x) + x


class DCNv2(nn.Module):
    """Concatenated field vectors -> cross network and deep network in parallel -> one logit."""

    def __init__(self, fields: FieldEmbedding, cross_layers: int, deep: list[int], dropout: float) -> None:
        super().__init__()
        self.fields = fields
        dim = fields.fields * fields.table.embedding_dim
        self.cross = nn.ModuleList([CrossLayer(dim) for _ in range(cross_layers)])
        self.deep = mlp([dim, *deep], dropout)
        self.out = nn.Linear(dim + deep[-1], 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x0 = self.fields(ids).flatten(1)
        crossed = x0
        for layer in self.cross:
            crossed = layer(x0, crossed)
        return self.out(torch.cat([crossed, self.deep(x0)], dim=1)).squeeze(1)


class RankingModel(nn.Module):
    """Click model and towers; ``forward`` runs them together so DDP syncs every gradient in one pass."""

    def __init__(
        self,
        vocab_size: int,
        user_fields: int,
        item_fields: int,
        item_pooled_slots: int,
        context_fields: int,
        history_groups: list[tuple[int, bool]],
        embedding_dim: int,
        tower_hidden: int,
        tower_dim: int,
        cross_layers: int,
        deep: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        table = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        nn.init.normal_(table.weight, std=0.05)
        with torch.no_grad():
            table.weight[PAD_ID].zero_()
        item_groups = [(item_fields - item_pooled_slots, False), (item_pooled_slots, True)]
        self.user_tower = Tower(
            FieldEmbedding(table, [(user_fields, False)]), tower_hidden, tower_dim, dropout
        )
        self.item_tower = Tower(FieldEmbedding(table, item_groups), tower_hidden, tower_dim, dropout)
        ranker_groups = [(user_fields, False), *item_groups, (context_fields, False), *history_groups]
        self.ranker = DCNv2(FieldEmbedding(table, ranker_groups), cross_layers, deep, dropout)

    def forward(
        self, user: torch.Tensor, item: torch.Tensor, context: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(click logits [N], user vectors [N, D], item vectors [N, D])."""
        ctr_ids = torch.cat([user, item, context, history], dim=1)
        return self.ranker(ctr_ids), self.user_tower(user), self.item_tower(item)


class ClickProbability(nn.Module):
    """Served click model: feature ids [N, F] -> probability [N, 1]."""

    def __init__(self, ranker: DCNv2) -> None:
        super().__init__()
        self.ranker = ranker

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.ranker(features)).unsqueeze(1)
