"""Retrieval metrics with same-class relevance, over an exact (brute-force) top-k search.

Every metric takes a boolean ``relevance`` matrix (queries x k, row-wise in rank order) and, where
the ideal ranking matters, each query's number of relevant catalogue items; so the search and the
scoring are separate and the scoring can be checked on hand-made matrices.

Definitions (k = cut-off, R = relevant items in the catalogue for the query):

* ``precision@k``: relevant hits in the top k, divided by k.
* ``recall@k``: Recall@K as in the metric-learning literature: 1 when at least one of the top k is
  relevant, else 0. (The set-recall hits/R is useless here: with R = 6000 same-class images it can
  never exceed 10/6000.)
* ``mAP@k``: mean over queries of AP@k = sum_i P@i * rel_i / min(k, R).
* ``nDCG@k``: binary gains, DCG = sum_i rel_i / log2(i + 1), divided by the DCG of an ideal
  ranking with min(k, R) relevant items first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def exact_top_k(
    queries: torch.Tensor,
    catalogue: torch.Tensor,
    k: int,
    *,
    cosine: bool = True,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Indices (queries x k) of the k most similar catalogue rows, best first, by dot product.

    ``cosine`` L2-normalises both sides first; queries are processed in chunks so the score matrix
    never exceeds ``chunk_size`` x catalogue size.
    """
    if k > catalogue.shape[0]:
        raise ValueError(f"k={k} exceeds the catalogue size {catalogue.shape[0]}")
    if cosine:
        queries = torch.nn.functional.normalize(queries, dim=1)
        catalogue = torch.nn.functional.normalize(catalogue, dim=1)
    found = [
        (chunk @ catalogue.T).topk(k, dim=1).indices for chunk in torch.split(queries, chunk_size, dim=0)
    ]
    return torch.cat(found).cpu()


def same_class_relevance(query_labels: np.ndarray, neighbour_labels: np.ndarray) -> np.ndarray:
    """Boolean (queries x k): is the neighbour at each rank of the query's class."""
    return neighbour_labels == query_labels[:, None]


def relevant_counts(query_labels: np.ndarray, catalogue_labels: np.ndarray) -> np.ndarray:
    """R per query: how many catalogue items share its class."""
    classes, counts = np.unique(catalogue_labels, return_counts=True)
    per_class = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    return np.array([per_class.get(label, 0) for label in query_labels.tolist()], dtype=np.int64)


def precision_at_k(relevance: np.ndarray, k: int) -> float:
    return float(relevance[:, :k].mean())


def recall_at_k(relevance: np.ndarray, k: int) -> float:
    return float(relevance[:, :k].any(axis=1).mean())


def map_at_k(relevance: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    hits = relevance[:, :k].astype(np.float64)
    precision_at_each_rank = hits.cumsum(axis=1) / np.arange(1, hits.shape[1] + 1)
    ideal_hits = np.minimum(n_relevant, k)
    ap = (precision_at_each_rank * hits).sum(axis=1) / np.maximum(ideal_hits, 1)
    return float(np.where(ideal_hits > 0, ap, 0.0).mean())


def ndcg_at_k(relevance: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    hits = relevance[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = hits @ discounts
    ideal_dcg = np.concatenate([[0.0], discounts.cumsum()])[np.minimum(n_relevant, hits.shape[1])]
    return float(np.where(ideal_dcg > 0, dcg / np.where(ideal_dcg > 0, ideal_dcg, 1.0), 0.0).mean())


def precision_curve(relevance: np.ndarray) -> list[float]:
    """precision@k for k = 1..K (the report plot)."""
    return (relevance.cumsum(axis=1) / np.arange(1, relevance.shape[1] + 1)).mean(axis=0).tolist()


def retrieval_metrics(relevance: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """The four headline metrics at cut-off ``k``, named ``<metric>_at_<k>``."""
    return {
        f"precision_at_{k}": precision_at_k(relevance, k),
        f"recall_at_{k}": recall_at_k(relevance, k),
        f"map_at_{k}": map_at_k(relevance, n_relevant, k),
        f"ndcg_at_{k}": ndcg_at_k(relevance, n_relevant, k),
    }


def evaluate_retrieval(
    query_vectors: torch.Tensor,
    query_labels: np.ndarray,
    catalogue_vectors: torch.Tensor,
    catalogue_labels: np.ndarray,
    k: int,
    curve_k: int,
    rerank: Callable[[list[int]], list[int]] | None = None,
) -> tuple[dict[str, float], list[float]]:
    """Search the catalogue for every query (cosine), then score: metrics at ``k`` and the
    precision curve up to ``curve_k``.

    ``rerank`` reorders one query's neighbours from their labels (nearest first), as serving
    does; the metrics of the similarity order alone are then kept too, prefixed ``similarity_``.
    """
    neighbours = exact_top_k(query_vectors, catalogue_vectors, max(k, curve_k)).numpy()
    neighbour_labels = catalogue_labels[neighbours]
    relevance = same_class_relevance(query_labels, neighbour_labels)
    n_relevant = relevant_counts(query_labels, catalogue_labels)
    if rerank is None:
        return retrieval_metrics(relevance, n_relevant, k), precision_curve(relevance[:, :curve_k])
    order = np.array([rerank(row) for row in neighbour_labels.tolist()], dtype=np.int64)
    reranked = np.take_along_axis(relevance, order, axis=1)
    similarity = {
        f"similarity_{name}": value for name, value in retrieval_metrics(relevance, n_relevant, k).items()
    }
    return retrieval_metrics(reranked, n_relevant, k) | similarity, precision_curve(reranked[:, :curve_k])
