# retailflow: the two commands a newcomer needs are `make demo` and `make test`.
# Dependencies are installed at the versions in constraints.txt (what the tests passed with).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS := dev,spark,s3,aws,airflow,postgresql,snowflake
# Superset lives in its own venv (it pins SQLAlchemy < 2 and an older pyarrow); versions in constraints-superset.txt.
SUPERSET_VENV  := .venv-superset
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed-stamp
SUPERSET_PKGS  := apache-superset duckdb-engine duckdb duckdb-extension-httpfs flask-caching rich cachetools "PyAthena[SQLAlchemy]"
# fakesnow (the Snowflake stand-in the tests run as a server) lives in its own venv too (it pins an older
# sqlglot than the main venv's); versions in constraints-fakesnow.txt.
FAKESNOW_VENV  := .venv-fakesnow
FAKESNOW_STAMP := $(FAKESNOW_VENV)/.installed-stamp
FAKESNOW_PKGS  := "fakesnow[server]" duckdb snowflake-connector-python

.PHONY: install lint demo demo-airflow test test-fast bench bench-pipeline spark-artifact lambda-artifact lock clean help superset lock-superset fakesnow lock-fakesnow

help:
	@echo "make demo   - create .venv, install, run the whole pipeline on embedded defaults"
	@echo "make demo-airflow - the demo orchestrated: scans trigger the nightly DAG on a local Airflow"
	@echo "make test   - install test dependencies and run the whole test suite"
	@echo "make bench  - issue #13's backfill benchmark: run/floor, peak RSS per stage, spark/spark-floor (14 dense"
	@echo "              days x 151 stores x 1,212 products, 2GB; BENCH_ARGS=\"--memory-limit 1GB\" to vary; long)"
	@echo "make bench-pipeline - print generator, exporter and transform throughput"
	@echo "make lock   - re-resolve dependencies and rewrite constraints.txt"
	@echo "make superset - create .venv-superset (Apache Superset, for retailflow superset up)"
	@echo "make fakesnow - create .venv-fakesnow (the Snowflake stand-in server of the tests)"
	@echo "make spark-artifact - build the wheel and spark-submit driver for EMR/Databricks (dist/)"
	@echo "make lambda-artifact - build the readiness Lambda's zip (dist/retailflow-readiness-lambda.zip)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

$(SUPERSET_STAMP): constraints-superset.txt
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet -c constraints-superset.txt $(SUPERSET_PKGS)
	@touch $(SUPERSET_STAMP)

superset: $(SUPERSET_STAMP)

$(FAKESNOW_STAMP): constraints-fakesnow.txt
	$(PYTHON) -m venv $(FAKESNOW_VENV)
	$(FAKESNOW_VENV)/bin/pip install --quiet --upgrade pip
	$(FAKESNOW_VENV)/bin/pip install --quiet -c constraints-fakesnow.txt $(FAKESNOW_PKGS)
	@touch $(FAKESNOW_STAMP)

fakesnow: $(FAKESNOW_STAMP)

demo: install
	$(BIN)/retailflow demo

# The same demo data, orchestrated: the scans trigger the nightly DAG on a local Airflow (left running;
# `retailflow airflow down --home demo-airflow/airflow` stops it).
demo-airflow: install
	$(BIN)/retailflow demo --orchestrator airflow --weeks 1 --workdir demo-airflow

lint: install
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/ruff format --check src tests benchmarks deploy
	$(BIN)/cfn-lint deploy/aws/template.yaml

test: install lint superset fakesnow
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not spark"

# Issue #13's size (about 9.3M fact rows); later flags in BENCH_ARGS win, e.g. BENCH_ARGS="--memory-limit 1GB".
bench: install
	$(BIN)/python benchmarks/bench_backfill.py --days 14 --stores 151 --products 1212 --memory-limit 2GB --spark \
		$(BENCH_ARGS)

bench-pipeline: install
	$(BIN)/python benchmarks/bench_pipeline.py

# What a Spark cluster needs: the wheel (installed on the nodes) and the spark-submit driver script.
spark-artifact: install
	rm -f dist/retailflow-*.whl dist/retailflow_spark_job.py && $(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	cp src/retailflow/orchestration/driver/retailflow_spark_job.py dist/
	@ls -1 dist

# The readiness Lambda's zip: the handler, fsspec/s3fs and their pure-Python dependencies, no boto3/botocore.
lambda-artifact: install
	$(BIN)/python deploy/aws/build_lambda.py --out dist/retailflow-readiness-lambda.zip

# Resolve from scratch in a throw-away venv, then pin everything that got installed.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e ".[$(EXTRAS)]"
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .venv-lock

# The same for Superset's venv. duckdb stays at the main venv's version (the catalog file's format).
lock-superset:
	rm -rf .venv-lock-superset && $(PYTHON) -m venv .venv-lock-superset
	.venv-lock-superset/bin/pip install --quiet --upgrade pip
	.venv-lock-superset/bin/pip install --quiet apache-superset==6.1.0 duckdb-engine \
		duckdb==$$(sed -n 's/^duckdb==//p' constraints.txt) \
		duckdb-extension-httpfs==$$(sed -n 's/^duckdb==//p' constraints.txt) 'flask-caching<2.5' rich cachetools \
		'PyAthena[SQLAlchemy]==2.25.2'
	{ sed -n '/^#/p' constraints-superset.txt; .venv-lock-superset/bin/pip freeze | grep -v '^-e'; } > constraints-superset.tmp
	mv constraints-superset.tmp constraints-superset.txt
	rm -rf .venv-lock-superset

# The same for fakesnow's venv: duckdb 1.5.x (fakesnow 0.12 needs duckdb 2), a connector < 5.
lock-fakesnow:
	rm -rf .venv-lock-fakesnow && $(PYTHON) -m venv .venv-lock-fakesnow
	.venv-lock-fakesnow/bin/pip install --quiet --upgrade pip
	.venv-lock-fakesnow/bin/pip install --quiet "fakesnow[server]==0.11.18" "duckdb==1.5.5" "snowflake-connector-python<5"
	{ sed -n '/^#/p' constraints-fakesnow.txt; .venv-lock-fakesnow/bin/pip freeze | grep -v '^-e'; } > constraints-fakesnow.tmp
	mv constraints-fakesnow.tmp constraints-fakesnow.txt
	rm -rf .venv-lock-fakesnow

clean:
	rm -rf $(VENV) $(SUPERSET_VENV) $(FAKESNOW_VENV) demo bench-out .pytest_cache
