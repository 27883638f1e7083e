"""visual-search: images (or an indexed image's id) -> embedding on Triton -> nearest neighbours in
Qdrant -> the voted class first (``training/visual_search/rerank.py``, as evaluated) -> top k."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from kserve.protocol.infer_type import InferRequest, InferResponse

from embeddings import SearchHit
from modelyard.models import VISUAL_SEARCH
from serving.transformer.base import Transformer
from serving.transformer.codecs import visual_search as codec
from serving.transformer.models.search import VersionIndex
from training.visual_search import rerank


@dataclass(frozen=True)
class Searched:
    vectors: list[np.ndarray]
    """Each query's vector, as searched with (what the payload log keeps)."""
    hits: list[list[SearchHit]]


class VisualSearchTransformer(Transformer[codec.VisualSearchRequest, Searched]):
    parse_in_thread = True  # image decoding

    def prepare(self) -> None:
        self.encoder = self.state.require_triton_model(VISUAL_SEARCH.triton_models[0])
        preprocessing = self.state.preprocessing
        self.input_name = preprocessing.get("input", "image")
        self.output_name = preprocessing.get("output", "embedding")
        self.index = VersionIndex(self.settings, self.state.model, self.state.version)
        self.index.probe()

    def parse_v1(self, body: Any) -> codec.VisualSearchRequest:
        return codec.parse_v1(body)

    def parse_v2(self, request: InferRequest) -> codec.VisualSearchRequest:
        return codec.parse_v2(request)

    def batch_size(self, request: codec.VisualSearchRequest) -> int:
        return len(request.queries)

    async def run(self, request: codec.VisualSearchRequest, request_id: str) -> Searched:
        vectors = await self._query_vectors(request.queries, request_id)
        class_first = request.order == "class_first"
        searches = [
            self.index.search(
                vector,
                max(request.k, rerank.VOTE_DEPTH) if class_first else request.k,
                filter=request.filter,
                exclude_ids=[query.point_id] if query.point_id is not None else (),
            )
            for query, vector in zip(request.queries, vectors, strict=True)
        ]
        found = await asyncio.gather(*searches)
        return Searched(vectors, [_class_first(hits)[: request.k] if class_first else hits for hits in found])

    async def _query_vectors(self, queries: list[codec.Query], request_id: str) -> list[np.ndarray]:
        """Images are embedded in one Triton batch; ids read their stored vectors."""
        vectors: dict[int, np.ndarray] = {}
        image_rows = [row for row, query in enumerate(queries) if query.pixels is not None]
        if image_rows:
            pixels = np.stack([queries[row].pixels for row in image_rows])[:, None].astype(np.float32)
            embedded = await self.triton(self.encoder, {self.input_name: pixels}, request_id)
            vectors |= dict(zip(image_rows, embedded[self.output_name], strict=True))
        id_rows = [row for row, query in enumerate(queries) if query.point_id is not None]
        if id_rows:
            stored = await self.index.retrieve([queries[row].point_id for row in id_rows])
            vectors |= dict(zip(id_rows, stored.vectors, strict=True))
        return [vectors[row] for row in range(len(queries))]

    def encode_v1(self, request: codec.VisualSearchRequest, result: Searched) -> list[Any]:
        return [[codec.hit_json(hit) for hit in hits] for hits in result.hits]

    def encode_v2(
        self, request: codec.VisualSearchRequest, result: Searched, request_id: str
    ) -> InferResponse:
        return codec.encode_v2(result.hits, request.k, self.state.model, self.state.version, request_id)

    def payload_columns(self, request: codec.VisualSearchRequest, result: Searched) -> dict[str, Any]:
        return {
            "pixels": _pixel_rows(request.queries),
            "embedding": np.stack(result.vectors).astype(np.float32, copy=False),
            "scores": [[hit.score for hit in hits] for hits in result.hits],
        }

    def get_input_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "image", "datatype": "BYTES", "shape": [-1]},
            {"name": "image", "datatype": "FP32", "shape": [-1, codec.SIDE, codec.SIDE]},
            {"name": "image", "datatype": "UINT8", "shape": [-1, codec.SIDE, codec.SIDE]},
            {"name": "id", "datatype": "INT64", "shape": [-1]},
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "ids", "datatype": "INT64", "shape": [-1, -1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
            {"name": "labels", "datatype": "INT64", "shape": [-1, -1]},
        ]


def _class_first(hits: list[SearchHit]) -> list[SearchHit]:
    return [hits[i] for i in rerank.class_first([hit.payload.get("label") for hit in hits])]


def _pixel_rows(queries: list[codec.Query]) -> np.ndarray | list[np.ndarray | None]:
    """Each query's pixels as one row: one array when every query is an image (the writer copies it
    once), else a row per query, None for a query by id."""
    pixels = [query.pixels for query in queries]
    if all(p is not None for p in pixels):
        return np.stack(pixels).reshape(len(pixels), -1)
    return [None if p is None else p.reshape(-1) for p in pixels]
