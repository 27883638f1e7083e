"""The gateway's in-process rollout layer: sticky canary split, shadow mirror, the admin API.

``state`` is the rollouts.json schema (the gateway writes it locally; on Kubernetes ``yard
rollout`` writes the same document into a ConfigMap), ``split`` the sticky traffic split,
``compare`` the shadow agreement, ``table`` the live rollouts the gateway routes with,
``admin`` the ``/admin/rollouts`` routes. The rollout driver (top-level ``rollout/``) sits above.
"""
