# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
OUT     ?= results/demo

.PHONY: demo test browser lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/territory-opt demo --out $(OUT)

# Browser tests need Debian's Chromium (downloaded browsers do not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check territory_opt tests benchmarks

# Every benchmark in turn (about 1.6 h on 2 cores); each prints its table (see benchmarks/results/).
BENCHES := bench_quota bench_maps bench_alignment bench_counties make_national_instance \
           bench_national bench_structure bench_levels bench_sweep bench_greenfield

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,peers]"
	for bench in $(BENCHES); do $(PY) benchmarks/$$bench.py || exit 1; done
	$(PY) -m benchmarks.peers

clean:
	rm -rf $(VENV) results .pytest_cache
