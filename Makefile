# abrec: every target bootstraps .venv from nothing with plain venv + pip, and is idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-all
BENCH  ?= all
# PEERS=1: also install (once, into .bench-peers/) and run Vowpal Wabbit, MABWiser, contextualbandits and OBP
# side by side with abrec; ratios only from that run. Without it, no ratio is measured.
PEERS  ?=
MUTATE ?=
MUTATE_STAMP := $(VENV)/.installed-mutation

.PHONY: demo test bench lint typecheck clean venv mutate browser local-llm

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
	$(PY) benchmarks/run.py $(BENCH) $(if $(PEERS),--peers)

# abrec.llm's local generator (llama.cpp + SmolLM2 GGUF): compiled from source, 10+ minutes on 2 cores, so not part
# of `make test`. The portable flags avoid a build tuned to the compiling CPU (it crashed on this machine's CPU).
LOCAL_LLM_STAMP := $(VENV)/.installed-local-llm
$(LOCAL_LLM_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" \
		$(PY) -m pip install --quiet -e '.[local-llm]'
	touch $(LOCAL_LLM_STAMP)

local-llm: $(LOCAL_LLM_STAMP)

# Mutation testing of the statistical core (not part of `make test`: hours for every module).
# `make mutate MUTATE="abtest/srm.py ope/importance.py"` runs a subset; see tests/README.md.
$(MUTATE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[mutation]'
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(PY) tools/mutate.py $(MUTATE)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
