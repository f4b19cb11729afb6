# PromptLab: `make run` sets everything up and serves the app; `make test` sets
# everything up and runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8000
HOST ?= 127.0.0.1
# Off by default: Django's debug pages show settings such as DATABASE_URL to anyone who
# meets an error. `make dev` (or DEBUG=1 make run) turns them on.
DEBUG ?= 0
VENV := .venv
BIN := $(VENV)/bin
# Django 6 needs Python 3.12+; take the newest one on this machine.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$p; break; fi; done)

.PHONY: help run dev setup test lint format messages bench clean editor-bundle .gettext .chromium

help:
	@echo "make run     set up and serve PromptLab on http://$(HOST):$(PORT) (web, Celery worker and beat)"
	@echo "make dev     the same with DEBUG=1 (Django's debug pages)"
	@echo "make test    set up and run the whole test suite"
	@echo "make lint    ruff check and format check, and the import layers (lint-imports)"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make editor-bundle   rebuild static/editor/code-editor.js (CodeMirror) from node_modules"

$(BIN)/.installed: requirements.txt
	@if [ -z "$(PYTHON)" ]; then echo "PromptLab needs Python 3.12 or newer (Django 6); none was found on PATH or under pyenv." >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# npm only for what only npm has: GraphiQL with React (served at /graphql), axe-core,
# which the browser tests run on every page, oidc-provider, the OpenID Connect provider the
# single sign-on tests start, and the code editor's CodeMirror with esbuild to bundle it
# (htmx and its SSE extension come with django-htmx, from the venv).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed: GraphiQL and React for /graphql, axe-core for the browser tests." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The template editor's code editor: CodeMirror 6 from npm, bundled by esbuild into one
# file under static/editor/ (not static/vendor/, which setup removes). The bundle is
# committed, so `make run` needs no npm; `make test` rebuilds it when its source or the
# lock file changed (esbuild's output is the same for the same input: no diff appears).
EDITOR_BUNDLE := static/editor/code-editor.js
$(EDITOR_BUNDLE): frontend/code-editor.js package-lock.json | node_modules/.installed
	node_modules/.bin/esbuild frontend/code-editor.js --bundle --minify --format=iife --target=es2020 \
		--legal-comments=none --log-level=warning --outfile=$@ \
		--banner:js="/* PromptLab's code editor: CodeMirror 6 (MIT), bundled by esbuild from frontend/code-editor.js; versions in package-lock.json. */"

editor-bundle: node_modules/.installed
	@rm -f $(EDITOR_BUNDLE)
	@$(MAKE) --no-print-directory $(EDITOR_BUNDLE)

# GraphiQL's UMD build and React's, copied from node_modules into static/graphiql/ (not
# static/vendor/, which setup clears): served from our origin under the strict CSP.
# GraphiQL's build names a source map it doesn't ship (collectstatic refuses a missing
# reference): the copy leaves that comment out. Its stylesheet embeds its fonts as data:
# URLs, which the CSP (font-src 'self') refuses: the copy leaves those @font-face rules
# out too, and GraphiQL falls back to the system's fonts; the CSP stays as strict.
GRAPHIQL_FILES := node_modules/react/umd/react.production.min.js node_modules/react-dom/umd/react-dom.production.min.js
static/graphiql/.installed: node_modules/.installed $(BIN)/.installed
	@mkdir -p static/graphiql
	cp $(GRAPHIQL_FILES) static/graphiql/
	$(BIN)/python -c 'import re, sys; css = open(sys.argv[1]).read(); open(sys.argv[2], "w").write(re.sub(r"@font-face\s*\{[^}]*\}", "", css))' \
		node_modules/graphiql/graphiql.min.css static/graphiql/graphiql.min.css
	sed '/^\/\/# sourceMappingURL=/d' node_modules/graphiql/graphiql.min.js > static/graphiql/graphiql.min.js
	cp node_modules/graphiql/LICENSE static/graphiql/LICENSE.graphiql
	cp node_modules/react/LICENSE static/graphiql/LICENSE.react
	@touch $@

# gettext's msgfmt compiles the translations; install it where it is missing.
.gettext:
	@command -v msgfmt >/dev/null || { echo "Installing gettext (msgfmt)…"; apt-get update -qq && apt-get install -y -qq gettext >/dev/null; }

# Everything both commands need, in order; each step is quick when already done.
# static/vendor held htmx copies in older checkouts (htmx now comes from django-htmx):
# removed with their collected copies, so that they are no longer served.
setup: $(BIN)/.installed .gettext static/graphiql/.installed
	@rm -rf static/vendor staticfiles/vendor
	@DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv --ignore=node_modules -v0
	@DEBUG=1 $(BIN)/python manage.py collectstatic --noinput -v0

# Without SECRET_KEY, in the embedded mode (no DATABASE_URL), the settings keep a key of
# their own in var/secret_key (made on first use, never committed: var/ is ignored).
run: setup
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py seed_demo
	@# Prometheus series start from zero with the processes (their files: promptlab/metrics.py).
	@rm -rf "$${PROMETHEUS_MULTIPROC_DIR:-$${PROMPTLAB_VAR_DIR:-var}/prometheus}"
	@echo "PromptLab is starting on http://$(HOST):$(PORT)/ (Ctrl-C stops the web server, the worker and beat)"
	DEBUG=$(DEBUG) HOST=$(HOST) PORT=$(PORT) WEB_WORKERS=$${WEB_WORKERS:-2} WORKER_CONCURRENCY=$${WORKER_CONCURRENCY:-2} \
		$(BIN)/honcho --no-prefix start --procfile Procfile --no-colour 2>&1 || true

dev:
	$(MAKE) run DEBUG=1

.chromium:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser tests…"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The editor bundle first: collectstatic (in setup) must collect the one tested.
test: node_modules/.installed $(EDITOR_BUNDLE) setup $(BIN)/.installed-dev .chromium
	@if [ -z "$$DATABASE_URL$$REDIS_URL" ]; then \
		echo "NOTE: DATABASE_URL and REDIS_URL are not set: the suite runs on the embedded defaults (SQLite, filesystem broker)."; \
		echo "      Tests that need PostgreSQL or Redis are skipped and say so. .ci/run sets both."; fi
	$(BIN)/pytest $(PYTEST_ARGS)

# The import-linter contracts (pyproject.toml) keep the layers: a wrong-way import fails here.
lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages:
	DEBUG=1 $(BIN)/python manage.py makemessages -l pt_BR --no-location --no-obsolete --ignore=.venv --ignore=node_modules --ignore=staticfiles --ignore=var

bench: setup $(BIN)/.installed-dev
	@command -v wrk >/dev/null || { echo "Installing wrk for the benchmarks…"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules staticfiles var
