"""Request parsing and response encoding per model: pure functions, no servers, no models.

Each module turns a KServe V1 body (dict) or V2 ``InferRequest`` into a validated request
dataclass, raising ``kserve.errors.InvalidInput`` (HTTP 400) with a message naming the field.
"""
