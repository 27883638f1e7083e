"""Storage engines behind the store: qdrant-client (embedded local mode or a Qdrant server)
and qdrant-edge (an in-process Qdrant engine with HNSW). The store talks only to ``Engine``."""
