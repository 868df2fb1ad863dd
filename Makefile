# Two commands for a fresh machine:
#   make lab    installs wslab and opens the notebooks in JupyterLab
#   make test   installs everything the tests need and runs all tests
# and one for developers:
#   make check  ruff, mypy and the layers' import contracts (import-linter)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test check install install-lab install-dev tools fonts notebooks bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What the notebooks need (wslab, JupyterLab, nest-asyncio2) ...
install-lab: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[notebooks]'

# ... and what the tests need on top (pytest, hypothesis, nbval, Playwright).
install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# ... and the developer's checks.
install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

# Outside tools for the real-peer tests: Debian's chromium and tshark, Node.js,
# configurable-http-proxy from npm (JupyterHub's proxy).
tools: fonts
	bash scripts/install-tools

fonts:
	bash scripts/install-fonts

# (JupyterLab refuses to run as root unless told; containers often are root.)
lab: install-lab fonts
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00-start-here.ipynb

# Outside tools are installed when we can (root); otherwise their tests skip with a reason.
test: install tools
	$(BIN)/pytest

check: install-dev
	$(BIN)/ruff check wslab tests bench
	$(BIN)/mypy wslab
	$(BIN)/lint-imports

# solutions/ (the teacher versions) is the one source; notebooks/ (the student versions) is generated
# from it, solutions replaced by nbgrader's stub. Execute both and store their outputs (what strict nbval compares).
notebooks: install
	$(BIN)/python -m wslab notebooks solutions/*.ipynb
	$(BIN)/python -m wslab release solutions/*.ipynb --out notebooks
	$(BIN)/python -m wslab notebooks notebooks/*.ipynb

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
