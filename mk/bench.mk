# Benchmarks (included by the main Makefile, which defines VENV and PY).
# Each writes bench/results/<name>.json (+ .png) and regenerates docs/benchmarks.md.
# BENCH_ARGS passes runner flags, e.g. `make bench BENCH_ARGS="--only training"`.

BENCH_ARGS ?=

.PHONY: bench bench-quick bench-serving bench-report

bench: install ## Every benchmark, full size (long), then docs/benchmarks.md
	BENCH_INVOKED_AS='make bench $(BENCH_ARGS)' $(PY) -m bench $(BENCH_ARGS)

bench-quick: install ## Every benchmark on small data (< 10 min), then docs/benchmarks.md
	BENCH_INVOKED_AS='make bench-quick $(BENCH_ARGS)' $(PY) -m bench --quick $(BENCH_ARGS)

bench-serving: install ## Serving latency/throughput: stack vs plain KServe vs bare model (BENCH_ARGS=--quick)
	BENCH_INVOKED_AS='make bench-serving $(BENCH_ARGS)' $(PY) -m bench --only serving $(BENCH_ARGS)

bench-report: ## Re-render docs/benchmarks.md from the results already in bench/results/
	$(PY) -m bench.report
