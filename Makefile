# Two commands do everything on a fresh machine with python3, make and gcc:
#   make demo   create .venv, install, start the embedded servers, migrate, seed, serve
#   make test   install what the tests need, then run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# Where the CPU build of torch comes from; empty when a local wheel house already has it.
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu

.PHONY: demo dev test test-fast lint format bench status down clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# CPU-only torch first (PyPI's Linux wheel of the same version brings GBs of CUDA).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet \
		"torch==2.13.0" $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	PORT=$(PORT) $(BIN)/pmo up

dev: $(STAMP)
	PORT=$(PORT) $(BIN)/pmo up --dev

# Unit tests on both cores (each xdist worker has its own test database), then the browser and
# Celery-worker tests one at a time: their workers share the broker's queues.
test: $(STAMP)
	$(BIN)/pytest -n 2 -m "not e2e and not integration"
	$(BIN)/pytest -m "e2e or integration"

test-fast: $(STAMP)
	$(BIN)/pytest -m "not e2e and not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run

status: $(STAMP)
	$(BIN)/pmo status

down: $(STAMP)
	$(BIN)/pmo down

clean:
	-$(BIN)/pmo down
	rm -rf .pmo
