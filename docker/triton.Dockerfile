# Triton predictor for modelyard's model repositories: python-backend models whose model.py
# torch.jit.load()s a TorchScript file, so the backend's Python needs torch (CPU build by default).
# Build: docker build -f docker/triton.Dockerfile -t ghcr.io/modelyard/triton:0.1.0 .
# Keep TORCH_VERSION equal to the training side's torch: TorchScript files are loaded by the
# torch that saved them or a newer one.
# GPU variant (values-gpu.yaml runs <tag>-gpu): a CUDA build of torch, so model.py's KIND_GPU
# instances really run on cuda:
#   docker build -f docker/triton.Dockerfile --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 \
#     -t ghcr.io/modelyard/triton:0.1.0-gpu .
# Without NGC (offline, CPU): docker/triton-pytriton.Dockerfile.
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
