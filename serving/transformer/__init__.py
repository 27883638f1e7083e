"""KServe transformers: request -> preprocessing -> Triton predictor (+ Qdrant) -> response.

One process serves one registered model version (``version.VersionState``) over KServe's V1
and V2 REST and gRPC protocols; ``python -m serving.transformer --help`` starts one.
"""
