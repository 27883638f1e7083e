"""Canary and shadow rollouts: the parts with no server in them.

``state`` is the rollouts.json schema (written by the gateway, read by everyone), ``split``
the sticky traffic split, ``compare`` the shadow agreement, ``analysis`` the step verdict,
``scrape`` per-variant figures from Prometheus text, ``kserve`` candidate InferenceServices.
``driver`` runs a rollout on either target; its backends act on a running system (the gateway
admin API, kubectl) and are imported on demand, so the gateway imports only the pure modules.
"""
