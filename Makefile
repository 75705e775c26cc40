# pdedenoise: the two commands of the README are `make book` and `make test`.
# Each one creates (or refreshes, when pyproject.toml or constraints.txt changed) the local
# environment in .venv first, so nothing else must be typed on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= ci
DEVICE ?= cpu
STAMP  := $(VENV)/.installed

.PHONY: help env test test-fast notebooks book bench lab browser-test chromium clean

help:
	@echo "make book    execute the notebooks (SCALE=ci|full, DEVICE=cpu|cuda) and build the HTML book"
	@echo "make test    run the test suite (includes the notebooks at ci scale and every page of the book in Chromium)"
	@echo "make test-fast   the tests without the slow notebook executions"
	@echo "make bench   speed benchmarks"
	@echo "make lab     JupyterLab on the notebooks, to run a chapter interactively"
	@echo "make browser-test   check every page of the book built by make book in headless Chromium"

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test,browser]"
	touch $(STAMP)

# the browser test of the built book needs Chromium, and npm for the book's JavaScript: Debian's packages,
# installed when missing (as root); where that is impossible the browser tests are skipped and say so
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium (apt-get install chromium, as root): the browser tests will be skipped"
	@command -v npm >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) \
		|| echo "could not install npm (apt-get install npm, as root): the whole-book browser test will be skipped"

test: $(STAMP) chromium
	$(PY) -m pytest -q -ra --durations=8

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow"

notebooks: $(STAMP)
	$(PY) -m pdedenoise.notebooks --scale $(SCALE) --device $(DEVICE)

book/_widgetjs/.fetched: tools/fetch_book_js.sh
	bash tools/fetch_book_js.sh book/_widgetjs
	touch $@

book: notebooks book/_widgetjs/.fetched
	rm -rf book/_build
	$(VENV)/bin/jupyter-book build book --warningiserror --keep-going
	@echo "The book is at book/_build/html/index.html"

bench: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/bench_diffnet.py --device $(DEVICE)
	$(PY) benchmarks/bench_learned.py
	@if [ -n "$(TF_PYTHON)" ] && [ -n "$(AUTHORS)" ]; then \
		$(PY) benchmarks/bench_authors_tf.py --tf-python "$(TF_PYTHON)" --authors "$(AUTHORS)"; \
	else echo "bench_authors_tf.py skipped (the authors' TensorFlow code): make bench TF_PYTHON=<python with tensorflow-cpu 2.12> AUTHORS=<checkout of JoelVO/anisotropic_diffusion>"; fi

lab: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks

browser-test: book chromium
	PDEDENOISE_BOOK_HTML=book/_build/html $(PY) -m pytest -q -ra tests/test_book_browser.py

clean:
	rm -rf book/_build book/executed build results/ci
