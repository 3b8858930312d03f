"""Builds the host extension of the C runtime (edgesnn.runtime._esn) with cffi; metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["edgesnn/runtime/_build.py:ffibuilder"])
