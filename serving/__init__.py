"""Serving: Triton predictors, KServe transformers, the gateway and the local stack supervisor.

Request path: ``gateway/`` → ``transformer/`` (preprocess → Triton → postprocess) → ``triton/``;
``stack/`` starts and supervises them for ``yard serve``; ``rollout/`` splits traffic between
versions.
"""
