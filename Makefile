# Two entry points (see README): `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml engine/CMakeLists.txt 2>/dev/null | cksum | cut -d' ' -f1)
ARGS ?=

.PHONY: run test install data lint pytest engine-test clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
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

pytest: install data
	$(PY) -m pytest $(ARGS)

engine-test: install
	@if [ -f engine/tests/CMakeLists.txt ]; then \
		cmake -S engine -B build/engine-sanitize -DSLIMLAB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DSLIMLAB_BUILD_TESTS=ON >/dev/null && \
		cmake --build build/engine-sanitize -j2 && \
		ctest --test-dir build/engine-sanitize --output-on-failure; \
	fi

test: lint engine-test pytest

clean:
	rm -rf build $(VENV) outputs multirun
