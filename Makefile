# Tandem: `make run` serves the demo, `make test` runs every test. Both set everything up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: setup run test check bench services services-down reset-data clean

$(VENV)/.installed: requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

static/dist/.built: node_modules/.installed static/build.mjs $(shell find static/src -type f)
	npm run --silent build
	@touch $@

setup: $(VENV)/.installed static/dist/.built

services: setup
	$(PY) -m config.devservices up

services-down:
	$(PY) -m config.devservices down

run: setup
	$(PY) -m config.devrun

test: setup
	$(PY) -m config.devtest $(ARGS)

check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m config.devservices up >/dev/null
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m config.importcheck

bench: setup
	$(PY) -m config.devservices up
	$(PY) -m bench

reset-data: setup
	$(PY) -m config.devservices reset

clean:
	-$(PY) -m config.devservices down
	rm -rf $(VENV) node_modules static/dist var
