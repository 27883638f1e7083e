"""The version artifact contract: the folder a training run writes, the registry stores, and
embeddings and serving read.

``layout`` names its files (and finds them in a download), ``triton_config`` reads and edits
Triton's ``config.pbtxt``, ``model_repository`` writes a version's Triton models (training) and
assembles the repository Triton serves from several versions (serving, publishing).
``python_backend_model.py`` is the loader Triton's python backend runs for every model.
"""
