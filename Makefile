# firmforge: `make demo` runs the main job, `make test` the test suite. Both bootstrap what they
# need (the .venv with torch first, then the package) and are safe to run again.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.firmforge-deps
JOBS   ?= 2

.PHONY: demo test test-hls test-sweep test-boards test-sanitizers test-snn lint bench fuzz mutations venv toolchains clean

# Debian packages of the cross compilers, emulators and a browser (see ../shared/docs/TOOLCHAINS.md).
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
                gcc-riscv64-unknown-elf qemu-system-misc \
                gcc-avr avr-libc binutils-avr simavr libsimavr-dev \
                chromium
# (chromium: the browser tests/test_report_html.py opens the HTML report in, through Playwright)
TOOLS := arm-none-eabi-gcc riscv64-unknown-elf-gcc avr-gcc qemu-system-arm qemu-system-riscv32 simavr \
         chromium

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	# NIR exporters of other frameworks, for tests/test_nir_exporters.py; without their hardware
	# and dataset dependencies (samna, torchvision), which exporting does not touch
	$(PY) -m pip install -q --disable-pip-version-check --no-deps norse==1.1.0 sinabs==3.1.3
	touch $@

toolchains:
	@missing=0; for t in $(TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	test -f /usr/include/simavr/sim_avr.h || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo "installing cross toolchains and emulators (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP) toolchains
	$(PY) examples/mnist_demo.py

test: $(STAMP) toolchains
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n $(JOBS) tests --ignore=tests/test_hls_kernels.py --ignore=tests/test_sweep.py
	$(MAKE) --no-print-directory test-sweep

# Design-space sweeps on Ray: a local Ray instance and a separate `ray start --head` (about a
# minute, mostly worker start-ups). `make test` runs it after the rest, on its own: under xdist
# two workers would each start a Ray on the same two cores.
test-sweep: $(STAMP)
	$(PY) -m pytest -q tests/test_sweep.py

# The C-kernel tables' rows that HLS templates cover, each C-simulated against the reference
# (g++ with the ap_types headers of the hls4ml wheel; about 80 s of compiles). CI runs it.
test-hls: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests/test_hls_kernels.py

# The emulated kernel tables at full size: every DSP fast path on 200 random cases on Cortex-M4
# and M33, 50 on Cortex-M3 and RISC-V, every other row 50 on Cortex-M4 and RISC-V, and every row
# on the ATmega328P, 50 drawn of which those that fit its 2 KB of RAM run (`make test` runs the
# first quarter of each). CI runs it after `make test`.
test-boards: $(STAMP) toolchains
	$(PY) -m pytest -q -n $(JOBS) tests/test_kernels_on_boards.py --full-tables

# Every kernel-table row under AddressSanitizer (with the per-layer arena check) and
# UndefinedBehaviorSanitizer on 8 random shapes each, over 1,000 in all. CI runs it.
test-sanitizers: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests/test_sanitizers.py --full-tables

# The spiking MNIST CNN: trained (about 10 minutes on two cores, cached), then its accuracy in
# float snnTorch and in fixed point, and the C against the reference. CI runs it.
test-snn: $(STAMP)
	$(PY) -m pytest -q tests/test_mnist_snn.py --snn-mnist

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP) toolchains
	for b in $(filter-out benchmarks/fuzz_convert.py,$(wildcard benchmarks/*.py)); do \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# Coverage-guided fuzzing (atheris) of the .tflite importer, the converter and the C target:
# 100,000 executions with 0 crashes, then the corpus it kept through the host C and TFLM
# (benchmarks/fuzz_convert.py; the counts are printed). CI runs it.
fuzz: $(STAMP)
	$(PY) benchmarks/fuzz_convert.py --runs 100000

# Deliberate one-token kernel bugs, each in a copy of the tree: which tests catch each.
mutations: $(STAMP) toolchains
	$(PY) tests/mutations.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
