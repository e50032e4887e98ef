# Two entry points for a fresh machine; both create .venv and install everything first.
#   make run    install, then `csr-bench run` on the embedded default (offline, CPU)
#   make test   install, then the test suite (offline); make test-fast: its unit tier only (no e2e tests)
#   make methods  install, then the CSR paper's method comparison on the world (8 runs, about an
#               hour on 2 cores; resumable) and its methods table in results/methods/methods.md
#   make gate   install, then the hallucination gate: a short world evaluation checked against
#               results/baselines/ci-world.json (`make gate-update` rewrites it, on purpose)
# Extra arguments: make run ARGS="--batch-size 4"   make test PYTEST_ARGS="-k pope"
#   make test-lmms  the lmms-eval interop tests, in their own .venv-lmms with the `lmms` extra
#                   (lmms-eval brings PyPI's CUDA torchvision; the main .venv stays without it)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo run methods test test-fast gate gate-update test-lmms clean

# An existing .venv is reused, so a GPU user can create it and install the CUDA torch 2.13.x of
# their choice first; constraints.txt (torch==2.13.0) is satisfied by it and keeps it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A one-minute try: one CSR iteration on 64 world prompts, POPE and CHAIR before and after, on 500
# documents of each (stratified: POPE's three splits alike; `make run` evaluates all of them).
demo: $(STAMP)
	$(BIN)/csr-bench run --iterations 1 --prompts 64 --tasks pope,chair --limit 500 --run-name demo $(ARGS)

run: $(STAMP)
	$(BIN)/csr-bench run $(ARGS)

# base, CSR, only R_I, only R_T, DPO on world:rlhf-v, POVID, SIMA, Self-rewarding; then `csr-bench compare`
methods: $(STAMP)
	scripts/methods_table.sh $(or $(OUT),results/methods)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tier: every test that neither starts csr-bench in a process of its own nor needs a whole run
# or world (tests/conftest.py marks those `e2e`); `make test` runs both tiers.
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

# The hallucination gate: the shipped world VLM on the world's POPE and CHAIR (a fresh world, built
# from this checkout's code, about a minute), checked against the committed numbers. Any change fails;
# when a change is meant to move them, `make gate-update` rewrites the baseline (commit it with the change).
GATE_DIR ?= $(or $(TMPDIR),/tmp)/csr-bench-gate
GATE_BASELINE ?= results/baselines/ci-world.json

GATE_EVAL = rm -rf $(GATE_DIR) && CSR_BENCH_HOME=$(GATE_DIR)/home HF_HUB_OFFLINE=1 \
	$(BIN)/csr-bench eval --model world --tasks pope,chair --output $(GATE_DIR) --quiet

gate: $(STAMP)
	$(GATE_EVAL)
	$(BIN)/csr-bench check $(GATE_DIR)/world --baseline $(GATE_BASELINE) --fail-on-change

gate-update: $(STAMP)
	$(GATE_EVAL)
	$(BIN)/csr-bench check $(GATE_DIR)/world --baseline $(GATE_BASELINE) --update-baseline

LMMS_VENV ?= .venv-lmms

$(LMMS_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/python -m pip install -c constraints.txt -e '.[dev,lmms]'
	touch $@

test-lmms: $(LMMS_VENV)/.installed
	HF_HUB_OFFLINE=1 $(LMMS_VENV)/bin/python -m pytest tests/test_lmms_eval_interop.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LMMS_VENV) *.egg-info
