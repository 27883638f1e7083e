"""Triton predictor: model repositories for TorchScript (python backend) and a real server.

Import the submodules: ``repository`` (write/configure models), ``server`` (run
``tritonserver``), ``installation`` (find the binary). Kept empty so importing the package
does not import torch.
"""
