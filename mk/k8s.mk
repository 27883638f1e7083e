# Kubernetes targets (included by the main Makefile, which defines VENV and PY).
# Offline ones: tools, chart-lint. The rest need Docker, kind and a network.

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

.PHONY: tools chart-lint kind-up images deploy kind-e2e kind-down

tools: ## helm + kubectl into .tools/bin (checksum-verified; a helm on PATH wins)
	bash scripts/get-tools.sh

chart-lint: tools ## helm lint --strict of the chart with every example values file
	$(HELM) lint --strict $(CHART)
	for f in $(CHART)/values-*.yaml; do $(HELM) lint --strict $(CHART) -f $$f || exit 1; done

kind-up: tools ## Create the kind cluster and install cert-manager, KServe, KubeRay
	$(K8S_ENV) bash deploy/kind/bootstrap.sh

images: ## Build our three images (tag = chart appVersion) and load them into kind
	for i in $(IMAGES); do \
	  docker build -f docker/$$i.Dockerfile -t ghcr.io/modelyard/$$i:$(APP_VERSION) . || exit 1; \
	  kind load docker-image --name $(KIND_CLUSTER) ghcr.io/modelyard/$$i:$(APP_VERSION) || exit 1; \
	done

deploy: tools ## helm upgrade --install the chart with the kind values
	$(HELM) upgrade --install modelyard $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  -f $(CHART)/values-kind.yaml $(HELM_ARGS)

kind-e2e: kind-up images ## Train, deploy, query each model and run a canary on kind
	$(K8S_ENV) bash deploy/kind/e2e.sh

kind-down: ## Delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)
