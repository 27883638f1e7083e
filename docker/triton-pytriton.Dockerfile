# CPU variant of the Triton predictor without NGC: the real tritonserver (2.51, python backend) that
# the nvidia-pytriton wheel ships, the same binary the local stack runs, laid out where the official
# image keeps it (/opt/tritonserver/{bin,backends}), so the chart's ServingRuntime args work as they
# are. Built by scripts/images-offline.sh; tag ghcr.io/modelyard/triton:<appVersion>-pytriton.
# The stub must link the libpython of the interpreter that runs it: Debian's python3.11 and
# libpython3.11 are the same release here (the cause of NOTES.md's RLock error is a mismatch).
ARG PYTHON_IMAGE=local/python:3.11-bookworm
FROM ${PYTHON_IMAGE}
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}" \
 && pip install "numpy<2" nvidia-pytriton==0.7.0
RUN set -eu; \
    site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    wheel="$site/pytriton/tritonserver"; \
    mkdir -p /opt/tritonserver/bin /opt/tritonserver/backends/python; \
    printf '#!/bin/sh\nexec %s "$@"\n' "$wheel/bin/tritonserver" > /opt/tritonserver/bin/tritonserver; \
    chmod 755 /opt/tritonserver/bin/tritonserver; \
    for f in libtriton_python.so triton_python_backend_utils.py; do \
      ln -s "$wheel/backends/python/$f" /opt/tritonserver/backends/python/$f; done; \
    ln -s "$wheel/python_backend_stubs/3.11/triton_python_backend_stub" /opt/tritonserver/backends/python/; \
    test -d "$site/nvidia_pytriton.libs"
# The stub's embedded Python finds torch through the first python3 on PATH (the venv's).
ENV PATH=/opt/tritonserver/bin:/opt/python/bin:$PATH \
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/opt/python/lib/python3.11/site-packages/nvidia_pytriton.libs \
    HOME=/tmp
USER 1000
EXPOSE 8080 9000 8002
CMD ["tritonserver", "--model-store=/mnt/models"]
