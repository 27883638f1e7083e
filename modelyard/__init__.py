"""modelyard: train, version, index and serve ML models on Ray, MLflow, Qdrant, KServe and Triton."""

__version__ = "0.1.0"
