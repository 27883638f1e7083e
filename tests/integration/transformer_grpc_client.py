"""gRPC half of the transformer conformance test, run in its own process.

``tritonclient.grpc`` and kserve register the same protobuf symbols, so the pytest process
(which imports kserve) cannot import it; the test runs this script and reads one JSON object.

Usage: python transformer_grpc_client.py MODERATION_HOST:PORT RANKING_HOST:PORT
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def moderation(url: str) -> dict:
    client = grpcclient.InferenceServerClient(url)
    text = grpcclient.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(
        np.array([b"cheap pills, click now", "Grüße, see you at 10".encode()], dtype=np.object_)
    )
    result = client.infer("moderation", [text])
    empty = grpcclient.InferInput("text", [1], "BYTES")
    empty.set_data_from_numpy(np.array([b"   "], dtype=np.object_))
    try:
        client.infer("moderation", [empty])
        empty_status = "accepted"
    except InferenceServerException as error:
        empty_status = str(error.status())
    answer = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("moderation"),
        "metadata_inputs": [
            entry["name"] for entry in client.get_model_metadata("moderation", as_json=True)["inputs"]
        ],
        "model_version": result.get_response(as_json=True)["model_version"],
        "decisions": [d.decode() for d in result.as_numpy("decision")],
        "scores_shape": list(result.as_numpy("scores").shape),
        "empty_status": empty_status,
    }
    client.close()
    return answer


def ranking(url: str) -> dict:
    client = grpcclient.InferenceServerClient(url)
    users = grpcclient.InferInput("user_id", [2], "INT64")
    users.set_data_from_numpy(np.array([42, 999_999], dtype=np.int64))
    n = 4
    result = client.infer("ranking", [users], parameters={"n": n})
    answer = {
        "item_ids": result.as_numpy("item_ids").tolist(),
        "cold_start": result.as_numpy("cold_start").tolist(),
        "n": n,
    }
    client.close()
    return answer


if __name__ == "__main__":
    print(json.dumps({"moderation": moderation(sys.argv[1]), "ranking": ranking(sys.argv[2])}))
