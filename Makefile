# The two commands of the README: `make run` and `make test`. Both build the
# virtual environment in .venv/ from uv.lock on a fresh machine first.
PYTHON ?= python3
UV_VERSION ?= 0.13.9
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced

.PHONY: run test lint serve worker venv clean bench

run: $(VENV_STAMP)
	.venv/bin/workbench

serve: $(VENV_STAMP)
	.venv/bin/promotion-agent serve

worker: $(VENV_STAMP)
	.venv/bin/promotion-agent worker

test: $(VENV_STAMP)
	.venv/bin/python -m pytest -q

# ruff (the rules in pyproject.toml, and its formatter) and pyright (strict on server/domain and
# server/services, standard elsewhere).
lint: $(VENV_STAMP)
	.venv/bin/ruff check
	.venv/bin/ruff format --check
	.venv/bin/pyright

venv: $(VENV_STAMP)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): $(UV) uv.lock pyproject.toml
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	touch $(VENV_STAMP)

# The benchmarks: every figure measured again and appended to bench/RESULTS.md (bench/run_all.sh).
bench: $(VENV_STAMP)
	bash bench/run_all.sh

clean:
	rm -rf .venv .tools .data .pytest_cache
