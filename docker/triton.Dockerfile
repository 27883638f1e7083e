# Triton predictor for modelyard's model repositories: python-backend models whose model.py
# torch.jit.load()s a TorchScript file, so the backend's Python needs torch (CPU build; on GPU
# nodes the same image works and model.py reads MODELYARD_DEVICE=cuda).
# Build: docker build -f docker/triton.Dockerfile -t ghcr.io/modelyard/triton:0.1.0 .
# Keep TORCH_VERSION equal to the training side's torch: TorchScript files are loaded by the
# torch that saved them or a newer one.
ARG TRITON_VERSION=25.01
FROM nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-py3
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The image's system Python is "externally managed"; this image is its only user.
RUN PIP_BREAK_SYSTEM_PACKAGES=1 pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" \
      "torch==${TORCH_VERSION}" numpy
# Triton's image ships the unprivileged user triton-server (uid 1000), used by the chart.
ENV HOME=/tmp
USER 1000
EXPOSE 8080 9000 8002
CMD ["tritonserver", "--model-store=/mnt/models"]
