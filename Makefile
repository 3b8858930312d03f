# Everything a fresh Debian machine needs, set up on first use:
#   make demo   the main job: the demo pipeline on the example models
#   make test   the test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup toolchain clean

# The cross toolchain and emulator the device tests use (binutils come with gcc-arm-none-eabi), and cmake,
# which builds the C libraries `edgesnn export-c` writes (tests/emit/test_library.py).
# Idempotent: does nothing when the tools are there; installs them when run as root on Debian,
# refreshing the package lists only when apt cannot see the packages (or the install fails on
# stale lists); otherwise says what is missing and goes on (the device tests then skip).
TOOLCHAIN_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake
TOOLCHAIN_OK   := command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1 \
                  && command -v cmake >/dev/null 2>&1 \
                  && [ -f /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc.a ]

setup: $(STAMP) toolchain

toolchain:
	@if $(TOOLCHAIN_OK); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(TOOLCHAIN_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt="apt-get -qq -o DPkg::Lock::Timeout=300"; \
	  if ! apt-cache show $(TOOLCHAIN_PKGS) >/dev/null 2>&1; then $$apt update; fi; \
	  $$apt install -y --no-install-recommends $(TOOLCHAIN_PKGS) >/dev/null \
	    || { $$apt update && $$apt install -y --no-install-recommends $(TOOLCHAIN_PKGS) >/dev/null; }; \
	else echo "note: $(TOOLCHAIN_PKGS) missing and not root: device tests will skip"; fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# cluster: Ray, for `--executor ray` and its tests (tests/plan/test_executor.py), which skip only without it
	$(PY) -m pip install -q -e '.[dev,data,cluster]'
	@# torch for the trainer's tests (extra `train`); on these machines this pin is a local CPU wheel
	$(PY) -m pip install -q 'torch==2.13.0' || echo "note: torch 2.13.0 unavailable: the training tests will skip"
	touch $@

demo: $(STAMP) toolchain
	$(VENV)/bin/edgesnn demo

test: $(STAMP) toolchain
	$(PY) -m pytest -q -n 2

clean:
	rm -rf $(VENV) out

# --- C runtime: the fuzzing toolchain, and rebuilding the cffi extension -----------------------
# clang with its sanitizer and libFuzzer runtimes, for the blob loader's fuzz target
# (runtime_c/fuzz, tests/runtime/test_fuzz_loader.py). Like `toolchain`: nothing to do when they work,
# installed when run as root on Debian, otherwise a note (that test then skips).
FUZZ_PKGS := clang libclang-rt-dev
FUZZ_OK   := printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
             | clang -x c -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1

.PHONY: fuzz-tools
setup: fuzz-tools
test: fuzz-tools

fuzz-tools:
	@if $(FUZZ_OK); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(FUZZ_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  if ! apt-cache show $(FUZZ_PKGS) >/dev/null 2>&1; then apt-get update -qq; fi; \
	  apt-get install -y -qq --no-install-recommends $(FUZZ_PKGS) >/dev/null \
	    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(FUZZ_PKGS) >/dev/null; }; \
	else echo "note: $(FUZZ_PKGS) missing and not root: the fuzz test will skip"; fi

# `pip install -e .` compiles runtime_c into edgesnn.runtime._esn (cffi): it needs a C compiler and the
# Python headers (installed here when missing and root), and is redone when the C runtime changes.
CEXT_PKGS := gcc python3-dev
CEXT_OK   := command -v gcc >/dev/null 2>&1 && python3 -c "import os, sysconfig; \
             raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"

.PHONY: c-tools
$(STAMP): setup.py edgesnn/runtime/_build.py $(wildcard runtime_c/src/*.[ch] runtime_c/src/kernels/*.c \
          runtime_c/include/esn/*.h runtime_c/ports/host/*.c) | c-tools

c-tools:
	@if $(CEXT_OK); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(CEXT_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends $(CEXT_PKGS) >/dev/null \
	    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(CEXT_PKGS) >/dev/null; }; \
	else echo "error: the C extension needs $(CEXT_PKGS) (a C compiler and Python headers); install them"; exit 1; fi

# --- cost-model calibration of the emulated boards (docs/calibration.md) -----------------------
# Microbenchmarks under QEMU -> calibration/BOARD.measurements.jsonl -> calibration/BOARD.json,
# with the held-out example models' error before and after. A few minutes per board.
CAL_BOARDS := qemu-mps2-an386 qemu-mps2-an500 qemu-mps2-an505 qemu-microbit qemu-netduinoplus2

.PHONY: calibrate
calibrate: $(STAMP) toolchain
	@for b in $(CAL_BOARDS); do $(VENV)/bin/edgesnn calibrate --board $$b -o calibration/$$b.json || exit 1; done
