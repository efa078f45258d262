# retailflow: the two commands a newcomer needs are `make demo` and `make test`.
# Dependencies are installed at the versions in constraints.txt (what the tests passed with).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS := dev,spark,s3

.PHONY: install demo test test-fast bench spark-artifact lock clean help

help:
	@echo "make demo   - create .venv, install, run the whole pipeline on embedded defaults"
	@echo "make test   - install test dependencies and run the whole test suite"
	@echo "make bench  - print generator, exporter and transform throughput"
	@echo "make lock   - re-resolve dependencies and rewrite constraints.txt"
	@echo "make spark-artifact - build the wheel and spark-submit driver for EMR/Databricks (dist/)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/retailflow demo

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not spark"

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

# What a Spark cluster needs: the wheel (installed on the nodes) and the spark-submit driver script.
spark-artifact: install
	rm -rf dist && $(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	cp deploy/spark/retailflow_spark_job.py dist/
	@ls -1 dist

# Resolve from scratch in a throw-away venv, then pin everything that got installed.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e ".[$(EXTRAS)]"
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) demo bench-out .pytest_cache
