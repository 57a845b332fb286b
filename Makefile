# Two entry points (see README): `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) engine/CMakeLists.txt 2>/dev/null | cksum | cut -d' ' -f1)
ARGS ?=

.PHONY: run test install data lint layers pytest engine-test lock clean

# Every install is constrained by requirements.lock, the whole resolved environment (pip-tools' pip-compile
# output, build backend included), so a fresh machine next month installs what CI passed with today. pip-tools
# rather than uv: pip reads this machine's pip configuration (its local wheel store and torch cap), so torch
# installs from local disk in seconds, where uv ignores it and downloads a multi-GB CUDA build. The build
# backend comes from the lock too (--no-build-isolation), since an isolated build would resolve it afresh.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(LOCK) scikit-build-core nanobind
	$(PY) -m pip install -q --no-build-isolation -c $(LOCK) -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Makes sure the default data set (Fashion-MNIST IDX files) is present; offline.
data: install
	$(PY) -m experiments.data.ensure

run: data
	$(PY) -m experiments.run $(ARGS)

lint: install
	$(PY) -m ruff check .

# The layer contract ([tool.importlinter] in pyproject.toml): no package imports one above it, in functions too.
layers: install
	$(VENV)/bin/lint-imports

pytest: install data
	$(PY) -m pytest $(ARGS)

engine-test: install
	@if [ -f engine/tests/CMakeLists.txt ]; then \
		cmake -S engine -B build/engine-sanitize -DSLIMLAB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DSLIMLAB_BUILD_TESTS=ON >/dev/null && \
		cmake --build build/engine-sanitize -j2 && \
		ctest --test-dir build/engine-sanitize --output-on-failure; \
	fi

test: lint layers engine-test pytest

# Refresh requirements.lock from pyproject.toml's ranges (and the torch pins of requirements.lock.in) at today's
# versions; review the diff, then `make test`.
PIP_TOOLS ?= pip-tools==7.7.0
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install -q '$(PIP_TOOLS)'
	build/lock-venv/bin/pip-compile --quiet --upgrade --all-build-deps --all-extras --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --unsafe-package slimlab -c requirements.lock.in \
		-o $(LOCK) pyproject.toml
	# the project is not a dependency of its own environment, and the clone's path is no part of the lock
	sed -i '/^slimlab @ /d;/# via file:\/\//d' $(LOCK)

clean:
	rm -rf build $(VENV) outputs multirun
