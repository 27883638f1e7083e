"""Drift and online metrics of served traffic against each version's reference profile."""

from monitoring.monitor import run

__all__ = ["run"]
