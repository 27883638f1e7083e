"""Deployment tooling beside the chart: kind scripts (``deploy/kind``) and the offline dress rehearsal."""
