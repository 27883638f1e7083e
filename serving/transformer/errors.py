"""How failures become status codes: the client's mistakes 400, a backing service down 503.

kserve maps its own exceptions (``InvalidInput`` -> 400 / INVALID_ARGUMENT, ``ServerNotReady``
-> 503 / UNAVAILABLE) on REST and gRPC alike, so every error leaves the model as one of those;
anything else would be a generic 500.
"""

from __future__ import annotations

from kserve.errors import InferenceError, InvalidInput, ServerNotReady

from embeddings.errors import PointNotFoundError
from modelyard.errors import ModelyardError, NotFoundError, UnavailableError, UsageError


class ServiceUnavailable(ServerNotReady):
    """Triton or Qdrant cannot answer right now: HTTP 503, gRPC UNAVAILABLE.

    ``reason`` is set because kserve's gRPC interceptor reads it from the exceptions it maps.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.reason = detail

    def __str__(self) -> str:
        return self.reason


def as_kserve_error(error: Exception) -> Exception:
    """The kserve exception for a modelyard error (kserve's own pass through unchanged)."""
    if not isinstance(error, ModelyardError):
        return error
    if isinstance(error, PointNotFoundError | UsageError):
        return InvalidInput(str(error))
    if isinstance(error, UnavailableError | NotFoundError):
        # NotFound here is server-side: the version's index or Triton model is missing.
        return ServiceUnavailable(str(error))
    return InferenceError(str(error))
