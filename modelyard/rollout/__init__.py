"""Canary and shadow rollouts: the parts with no server in them.

``state`` is the rollouts.json schema (written by the gateway, read by everyone), ``split``
the sticky traffic split, ``compare`` the shadow agreement, ``analysis`` the step verdict,
``scrape`` per-variant figures from Prometheus text, ``kserve`` the InferenceService patches.
Drivers that act on a running system (gateway admin API, kubectl) live beside them and are
imported on demand, so the gateway imports only the pure modules.
"""
