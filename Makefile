# modelyard: `make demo` and `make test` are the two commands; everything else is a step of theirs.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
YARD  := $(VENV)/bin/yard
STAMP := $(VENV)/.stamp-$(shell cat requirements/lock.txt pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: install demo test test-unit test-integration test-charts lint bench bench-quick clean help
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with the pinned stack, datasets sources and dev tools
$(STAMP):
	bash scripts/install.sh
	rm -f $(VENV)/.stamp-* && touch $@

demo: install ## Prepare data, train the three models, index, serve and query them
	$(YARD) data prepare
	$(YARD) train all
	$(YARD) index visual-search
	$(YARD) index ranking
	$(YARD) demo

test: install tools ## Run every test suite (unit, integration, charts)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install ## Fast tests, no servers
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install ## Real processes on loopback
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-charts: install tools ## Offline Helm chart validation
	$(PY) -m pytest tests/charts $(PYTEST_ARGS)

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean: ## Remove local state (.modelyard) but the dataset sources make install unpacked; keeps the venv
	find .modelyard -mindepth 1 -maxdepth 1 ! -name sources -exec rm -rf {} +

-include mk/*.mk
