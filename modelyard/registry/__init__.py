"""Model registry over MLflow: runs with lineage, versions, and champion/challenger/previous aliases;
``publish`` copies a version's Triton repository to the model store KServe reads.

``connection`` is imported first on purpose: it sets MLflow's environment defaults
(telemetry off, short retries) before ``mlflow`` itself is imported.
"""

from modelyard.registry.connection import probe_server
from modelyard.registry.policy import VALID_ALIASES, GateDecision, ModelRef, decide_promotion, parse_ref
from modelyard.registry.publish import probe_store, publish_version, resolve_store
from modelyard.registry.records import AliasMove, ModelSummary, ResolvedVersion
from modelyard.registry.registry import Registry

__all__ = [
    "VALID_ALIASES",
    "AliasMove",
    "GateDecision",
    "ModelRef",
    "ModelSummary",
    "Registry",
    "ResolvedVersion",
    "decide_promotion",
    "parse_ref",
    "probe_server",
    "probe_store",
    "publish_version",
    "resolve_store",
]
