# The course's two quick-start commands. Each creates the environment first when missing.
#   make train   # set up, then train CNNSimple on the repository's MNIST
#   make test    # set up, then lint and run every test
# Extra options: make train ARGS="train.epochs=25 dataset.name=cifar10"
#                make test PYTEST_ARGS="tests/test_config.py -x"

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup train test lint system-packages

setup: $(STAMP)

# Everything: requirements.txt includes every file in requirements/ (one set per assignment,
# plus dev.txt). Re-run the install whenever one of them changes.
$(STAMP): requirements.txt $(wildcard requirements/*.txt)
	PYTHON=$(PYTHON) bash tools/install_system_packages.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

system-packages:
	PYTHON=$(PYTHON) bash tools/install_system_packages.sh

train: setup
	$(PY) starter/train.py --configs assets/configs.yml $(if $(ARGS),--override_args $(ARGS))

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)
