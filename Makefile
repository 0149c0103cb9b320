# Local Rules, Creative Machines: the two commands of the README.
#   make lab    set up (if needed) and open the course in JupyterLab at lesson 00
#   make test   set up (if needed) and run every test
#   make book   the course as a website, build/book/html (from the stored notebooks)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The book's builder lives in a venv of its own: Jupyter Book 1.x pins packages that the
# course's own environment needs newer (markdown-it-py).
BOOK_VENV ?= .venv-book
BOOK_STAMP := $(BOOK_VENV)/.installed
TORCH_VERSION := 2.13.0
# Notebooks and tests run without live progress bars: their outputs are compared.
export COURSE_PROGRESS ?= auto

.PHONY: lab test setup notebooks check-notebooks bench book clean

# As root (containers, some JupyterHubs) JupyterLab refuses to start without --allow-root.
lab: $(STAMP)
	@echo "JupyterLab prints the address to open below (http://127.0.0.1:8888/lab...?token=...)."
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) lessons/00_paradox.ipynb

test: $(STAMP) book
	@sh .ci/install_browser.sh "$(BIN)/python"  # best effort: the browser test skips without it
	@sh .ci/apt_install.sh "grader sandbox" bwrap bubblewrap  # best effort: the grader then falls back and says so
	COURSE_PROGRESS=off $(BIN)/python -m pytest

setup: $(STAMP)

# Regenerate lessons/ and solutions/ from solutions/sources/ and execute them.
notebooks: $(STAMP)
	COURSE_PROGRESS=off $(BIN)/python -m course_utils.notebooks build

# The website: built from the stored notebooks (nothing executed), every asset local.
book: $(BOOK_STAMP)
	$(BOOK_VENV)/bin/python -m course_utils.book build

$(BOOK_STAMP): book/requirements.txt
	@sh .ci/check_python.sh "$(PYTHON)"
	@test -x $(BOOK_VENV)/bin/python || $(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install --quiet -r book/requirements.txt
	@touch $@

bench: $(STAMP)
	$(BIN)/python -m benchmarks

$(STAMP): pyproject.toml Makefile
	@sh .ci/check_python.sh "$(PYTHON)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch: the CPU build only. A local wheel first (offline machines), then a local
	@# CPU wheel with its dependencies from PyPI, then the official CPU index on Linux
	@# (plain PyPI would pull a multi-GB CUDA build).
	@$(BIN)/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet --no-index torch==$(TORCH_VERSION) 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)+cpu 2>/dev/null \
	  || { if [ "$$(uname -s)" = Linux ]; then \
	         $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) --index-url https://download.pytorch.org/whl/cpu; \
	       else $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION); fi; }
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) $(BOOK_VENV) test-output build/book
