# Kubernetes targets (included by the main Makefile, which defines VENV and PY).
# Offline ones: tools, chart-lint, k8s-rehearsal (root), images-offline (root, podman).
# The rest need Docker, kind and a network.

TOOLS_BIN    := .tools/bin
HELM         := $(TOOLS_BIN)/helm
KUBECTL      := $(TOOLS_BIN)/kubectl
CHART        := charts/modelyard
KIND_CLUSTER ?= modelyard
NAMESPACE    ?= modelyard
APP_VERSION  := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(CHART)/Chart.yaml)
IMAGES       := serving triton training
# Helm/kubectl from .tools/bin win over older copies on PATH in every recipe below.
K8S_ENV      := PATH="$(CURDIR)/$(TOOLS_BIN):$$PATH" KIND_CLUSTER=$(KIND_CLUSTER) NAMESPACE=$(NAMESPACE) APP_VERSION=$(APP_VERSION)

REHEARSAL_ARGS ?=

.PHONY: tools chart-lint k8s-rehearsal images-offline kind-up images images-gpu deploy kind-e2e kind-down

tools: ## helm + kubectl into .tools/bin (checksum-verified; a helm on PATH wins)
	bash scripts/get-tools.sh

chart-lint: tools ## helm lint --strict of the chart with every example values file
	$(HELM) lint --strict $(CHART)
	for f in $(CHART)/values-*.yaml; do $(HELM) lint --strict $(CHART) -f $$f || exit 1; done

k8s-rehearsal: install tools ## Run the rendered chart's pods for real in network namespaces, probe and query them (root)
	$(PY) -m deploy.rehearsal $(REHEARSAL_ARGS)

images-offline: ## Build the three images with podman from a debootstrapped Debian, run each once (root, slow)
	APP_VERSION=$(APP_VERSION) bash scripts/images-offline.sh

kind-up: tools ## Create the kind cluster and install cert-manager, KServe, KubeRay
	$(K8S_ENV) bash deploy/kind/bootstrap.sh

images: ## Build our three images (tag = chart appVersion) and load them into kind
	for i in $(IMAGES); do \
	  docker build -f docker/$$i.Dockerfile -t ghcr.io/modelyard/$$i:$(APP_VERSION) . || exit 1; \
	  kind load docker-image --name $(KIND_CLUSTER) ghcr.io/modelyard/$$i:$(APP_VERSION) || exit 1; \
	done

images-gpu: ## The Triton image with CUDA torch (gpu.enabled runs <tag>-gpu), for GPU nodes
	docker build -f docker/triton.Dockerfile --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 \
	  -t ghcr.io/modelyard/triton:$(APP_VERSION)-gpu .

deploy: tools ## helm upgrade --install the chart with the kind values
	$(HELM) upgrade --install modelyard $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  -f $(CHART)/values-kind.yaml $(HELM_ARGS)

kind-e2e: install kind-up images ## Train, deploy, query each model and run a canary on kind (needs .venv: step 3)
	$(K8S_ENV) bash deploy/kind/e2e.sh

kind-down: ## Delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)
