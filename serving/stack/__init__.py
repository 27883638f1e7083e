"""The local serving stack behind ``yard serve``: Triton, one transformer per model, the gateway.

``repository`` assembles the serving Triton model repository from registered versions,
``supervisor`` runs the processes, ``state`` is the ``stack.json`` other commands read.
Submodules are imported on demand so ``yard query`` stays light.
"""
