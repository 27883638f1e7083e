"""Helpers shared by the tasks' linear baselines, so a baseline sees exactly the model's inputs."""

from __future__ import annotations

import numpy as np
from scipy import sparse

PAD_ID = 0


def bag_of_ids(ids: np.ndarray, size: int) -> sparse.csr_matrix:
    """Rows of integer ids [N, L] (0 = padding, dropped) -> a sparse count matrix [N, size]."""
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    flat = ids.ravel()
    keep = flat != PAD_ID
    counts = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], flat[keep])), shape=(len(ids), size))
    counts.sum_duplicates()
    return counts
