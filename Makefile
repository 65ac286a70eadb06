# abrec: every target bootstraps .venv from nothing with plain venv + pip, and is idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-all
BENCH  ?= all
MUTATE ?=
MUTATE_STAMP := $(VENV)/.installed-mutation

.PHONY: demo test bench lint typecheck clean venv mutate browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[all]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/abrec demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The headless browser the report test drives (tests/report/test_report_browser.py): Debian's chromium.
# Installed once where we may (root with apt-get); elsewhere the test skips, except under CI where it fails.
CHROMIUM := /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the report browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make browser: $(CHROMIUM) is missing and needs root with apt-get; the browser test will skip" >&2; \
	fi

test: lint typecheck browser
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH)

# Mutation testing of the statistical core (not part of `make test`: hours for every module).
# `make mutate MUTATE="abtest/srm.py ope/importance.py"` runs a subset; see tests/README.md.
$(MUTATE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[mutation]'
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(PY) tools/mutate.py $(MUTATE)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
