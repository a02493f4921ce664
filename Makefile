# hist-retail ETL. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DATE ?= 2015-01-05
JOB ?= jb_retail_factdata_d2s
ARGS ?= --TARGET_DATA balju --EXTRACT_DATE $(DATE)
PYTEST_ARGS ?=
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export SPARK_LOCAL_IP ?= 127.0.0.1

.DEFAULT_GOAL := help
PREFIX ?=
REGION ?=
# Deploy settings: each one left out keeps its deployed value (the first deploy needs
# SOURCE_SECRET_ARN and LAKE_BUCKET). SOURCE_CONNECTION= (set, empty) removes the connection.
DEPLOY_ARGS = --prefix $(PREFIX) $(if $(REGION),--region $(REGION)) \
	$(if $(BUCKET),--bucket $(BUCKET)) \
	$(if $(SOURCE_SECRET_ARN),--source-secret-arn $(SOURCE_SECRET_ARN)) \
	$(if $(LAKE_BUCKET),--lake-bucket $(LAKE_BUCKET)) \
	$(if $(SCHEDULE),--schedule '$(SCHEDULE)') $(if $(LOOKBACK_DAYS),--lookback-days '$(LOOKBACK_DAYS)') $(if $(CATALOG),--catalog $(CATALOG)) \
	$(if $(filter-out undefined,$(origin ALERT_EMAIL)),--alert-email '$(ALERT_EMAIL)') \
	$(if $(filter-out undefined,$(origin KMS_KEY_ARN)),--kms-key-arn '$(KMS_KEY_ARN)') \
	$(if $(filter-out undefined,$(origin SOURCE_SECRET_KMS_KEY_ARN)),--source-secret-kms-key-arn '$(SOURCE_SECRET_KMS_KEY_ARN)') \
	$(if $(filter-out undefined,$(origin SOURCE_CONNECTION)),--source-connection '$(SOURCE_CONNECTION)')

.PHONY: help setup pg seed run submit history crawl sql info stop clean test lint format mutate bench bench-backfill bench-lookback bench-steps docker-test \
	rehearse catalog-restore statemachine deploy deploy-plan destroy

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install Java, PostgreSQL, the JDBC driver and .venv where missing
	@scripts/bootstrap.sh

pg: setup ## start the local PostgreSQL source (under .local/)
	@$(PY) -m retail_etl.local pg start

seed: pg ## seed the sample source unless it already has data (AS_OF=YYYY-MM-DDTHH:MM: reseed it as it stood then)
	@$(PY) -m retail_etl.local seed $(if $(AS_OF),--as-of '$(AS_OF)',--if-empty)

run: seed ## run the batch for DATE (default 2015-01-05), or FROM=... TO=... (a range); LOOKBACK=N restates changed days before it
	@$(PY) -m retail_etl.local run $(if $(FROM)$(TO),$(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)),--date $(DATE)) $(if $(LOOKBACK),--lookback '$(LOOKBACK)')

submit: seed ## run one Glue job script locally: make submit JOB=... ARGS='...'
	$(VENV)/bin/spark-submit --master 'local[*]' --jars /usr/share/java/postgresql.jar \
	  --driver-java-options '-Duser.timezone=UTC -Dlog4j2.configurationFile=retail_etl/log4j2.properties' \
	  jobs/$(JOB).py $(ARGS)

history: setup ## the recent job runs (of DATE=...): status, rows, gates, seconds
	@$(PY) -m retail_etl.local history $(if $(filter command line,$(origin DATE)),--date $(DATE))

crawl: setup ## register in-place day folders (--CATALOG crawlers runs) in the local catalog
	@$(PY) -m retail_etl.local crawl

catalog-restore: setup ## rebuild the local catalog's days from the lake's run records (GLUE=1 LAKE_ROOT=s3://...: Glue's)
	@$(PY) -m retail_etl.local catalog restore $(if $(GLUE),--glue) $(if $(LAKE_ROOT),--lake-root $(LAKE_ROOT))

sql: setup ## run Spark SQL on the local catalog: make sql Q="select ..."
	@$(PY) -m retail_etl.local sql "$(Q)"

info: setup ## print the local stack's facts as JSON
	@$(PY) -m retail_etl.local info --json

stop: ## stop the local PostgreSQL
	@if [ -x $(PY) ]; then $(PY) -m retail_etl.local pg stop; fi

clean: stop ## stop PostgreSQL and remove .local/ (source data, lake, catalog)
	rm -rf .local

test: lint ## lint, then the whole test suite (it starts its own PostgreSQL)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup ## ruff (lint and format check), mypy, and the scanners: checkov (template), hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd orchestration/cloudformation && ../../.tools/bin/checkov -f hist_retail.template.json --compact --quiet --skip-download  # on the bare name: see tests/test_operations.py's checkov()
	.tools/bin/hadolint docker/Dockerfile

format: setup ## apply ruff's formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

mutate: setup ## mutation testing of the pure modules (mutmut; see README), a few minutes
	@$(VENV)/bin/python -m pip install --quiet 'mutmut==3.8.1'
	$(VENV)/bin/mutmut run; $(VENV)/bin/mutmut results

bench: seed ## d2s rows/s: parallel JDBC read vs a single connection, side by side
	@$(PY) benchmarks/bench_d2s.py --date $(DATE)

bench-lookback: seed ## the look-back: how stale the sample gets per N, the fingerprint query vs extracting a day, a month of nights with and without
	@$(PY) benchmarks/bench_lookback.py $(if $(PART),--part $(PART)) $(if $(SIZES),--sizes $(SIZES))

bench-steps: seed ## where a day's time goes: each job as a whole process, phase by phase, beside connectorx and DuckDB (SIZES=1000000,10000000)
	@$(VENV)/bin/python -m pip install --quiet -e '.[bench]'
	@$(PY) benchmarks/bench_steps.py $(if $(SIZES),--sizes $(SIZES)) $(if $(ROUNDS),--rounds $(ROUNDS))

bench-backfill: seed ## a 31-day range in one run vs 31 one-day runs, whole processes, side by side
	@$(PY) benchmarks/bench_backfill.py --from $(or $(FROM),2015-01-01) --to $(or $(TO),2015-01-31)

rehearse: seed ## the night of DATE as AWS will run it: moto, S3 through S3A, the Glue catalog, every call checked against its role
	@$(PY) -m orchestration.rehearsal --date $(DATE)

statemachine: setup ## regenerate the checked-in ASL, its Mermaid diagram and the CloudFormation template
	@$(PY) -m orchestration.statemachine
	@$(PY) -m orchestration.template

deploy: setup ## build, upload and deploy: make deploy PREFIX=blee LAKE_BUCKET=... SOURCE_SECRET_ARN=arn:...
	@test -n "$(PREFIX)" || { echo "make deploy: PREFIX=... is required" >&2; exit 2; }
	@$(PY) -m orchestration.deploy deploy $(DEPLOY_ARGS)

deploy-plan: setup ## show what `make deploy` would change, changing nothing
	@test -n "$(PREFIX)" || { echo "make deploy-plan: PREFIX=... is required" >&2; exit 2; }
	@$(PY) -m orchestration.deploy plan $(DEPLOY_ARGS)

destroy: setup ## delete the stack and wait until it is gone (the catalog, the artifacts bucket and the lake stay)
	@test -n "$(PREFIX)" || { echo "make destroy: PREFIX=... is required" >&2; exit 2; }
	@$(PY) -m orchestration.deploy destroy --prefix $(PREFIX) $(if $(REGION),--region $(REGION))

docker-test: ## run `make test` inside the AWS Glue 5 image (needs a Docker engine)
	docker compose -f docker/compose.yaml run --rm --build glue make test
