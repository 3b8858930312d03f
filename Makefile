# Everything a fresh Debian machine needs, set up on first use:
#   make demo   the main job: the demo pipeline on the example models
#   make test   the test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup toolchain clean

# The cross toolchain and emulator the device tests use (binutils come with gcc-arm-none-eabi).
# Idempotent: does nothing when the tools are there; installs them when run as root on Debian,
# refreshing the package lists only when apt cannot see the packages (or the install fails on
# stale lists); otherwise says what is missing and goes on (the device tests then skip).
TOOLCHAIN_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
TOOLCHAIN_OK   := command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1 \
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
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/edgesnn demo

test: $(STAMP) toolchain
	$(PY) -m pytest -q -n 2

clean:
	rm -rf $(VENV) out
