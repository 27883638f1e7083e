# Base images for building ours without a registry (scripts/images-offline.sh), from a Debian
# bookworm root made with debootstrap and imported as local/debian:bookworm.
#   --target python: Debian's python3.11 with a venv on PATH (stands in for python:3.11-slim and,
#                    for the training image, for rayproject/ray's conda Python)
#   --target node:   Debian's npm (stands in for node:22-bookworm-slim in the training build)
ARG DEBIAN_IMAGE=local/debian:bookworm

FROM ${DEBIAN_IMAGE} AS python
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-venv libpython3.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && python3 -m venv /opt/python
ENV PATH=/opt/python/bin:$PATH

FROM ${DEBIAN_IMAGE} AS node
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
