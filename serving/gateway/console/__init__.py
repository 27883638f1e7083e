"""The web console at ``/ui/``: the three models and their rollouts, drawn in a browser.

Static files shipped in the package (no CDN: it works offline) plus a few read-only data routes
behind the API key; model answers go through the gateway's own model routes, rollout changes
through its admin API with the admin key. docs/console.md shows it.
"""
