# modelyard transformer + gateway: `python -m serving.transformer` / `python -m serving.gateway`.
# Build from the repo root: docker build -f docker/serving.Dockerfile -t ghcr.io/modelyard/serving:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE} AS build
# torch from its CPU index: the default wheel drags in gigabytes of CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0
COPY pyproject.toml README.md ./src/
COPY requirements/ ./src/requirements/
COPY modelyard/ ./src/modelyard/
COPY serving/ ./src/serving/
COPY training/ ./src/training/
COPY embeddings/ ./src/embeddings/
# Every locked package checked against its sha256 (torch, installed above, is already there),
# then the project itself (a local folder has no hash).
RUN pip install --require-hashes --no-deps -r src/requirements/lock.txt \
 && pip install --no-deps ./src

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/venv /opt/venv
# uid 10001 matches the chart's securityContext; HOME on /tmp, the one writable path there.
RUN useradd --uid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin modelyard
# A container binds all interfaces: its network namespace is the boundary (127.0.0.1 would be
# unreachable from the kubelet and the Service).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HOME=/tmp MODELYARD_STATE_DIR=/tmp/modelyard \
    MODELYARD_HOST=0.0.0.0
USER 10001
EXPOSE 8080
CMD ["python", "-m", "serving.gateway"]
