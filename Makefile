# meshlake: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo test lint format bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/meshlake demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests \
		--doctest-modules src/meshlake --ignore=src/meshlake/catalog/migrations

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/authz_scale.py
	$(BIN)/python bench/query_overhead.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/ml_quality.py
	$(BIN)/python bench/ml.py
	$(BIN)/pip install --quiet -e '.[dev,bench]' && $(BIN)/python bench/tpch.py

clean:
	rm -rf $(VENV) .meshlake .pytest_cache .mypy_cache .ruff_cache
