"""Offline evaluation metrics shared by the tasks (vectorised numpy/torch, no per-query Python loops)."""
