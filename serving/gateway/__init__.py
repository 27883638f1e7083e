"""The gateway: one authenticated HTTP entry point that routes to each model's upstreams.

``app`` builds the FastAPI app (``create_app``), ``config`` its routes and keys, ``server`` runs
it; ``rollout/`` is its in-process rollout layer (canary split, shadow mirror, admin API).
Nothing is imported here, so the rollout driver can read ``rollout.state`` without the web app.
"""
