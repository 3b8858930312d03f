"""Build steps pyproject.toml cannot state: the cffi extension of the C runtime (edgesnn.runtime._esn)
and the files a wheel carries beside the code (edgesnn/_share: boards, calibrations, the C runtime's
sources, the example models and data; see edgesnn/resources.py). Metadata lives in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What an installed edgesnn needs beside its code, as (folder, glob patterns); runtime_c whole but its
# build outputs, since the firmware build and the calibration's source digest read every port file.
SHARED = {
    "boards": ["*.toml", "README.md"],
    "calibration": ["*.json", "README.md"],
    "runtime_c": ["**/*"],
    "examples": ["models/*", "data/*.npz", "README.md"],
}
NOT_SHIPPED = ("build", "__pycache__")


class build_py_with_share(build_py):
    """build_py that also copies SHARED into the built package as edgesnn/_share (an editable install
    reads the checkout's folders instead, so it copies nothing)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        share = Path(self.build_lib) / "edgesnn" / "_share"
        shutil.rmtree(share, ignore_errors=True)
        for folder, patterns in SHARED.items():
            for pattern in patterns:
                for src in sorted((ROOT / folder).glob(pattern)):
                    rel = src.relative_to(ROOT)
                    if src.is_file() and not set(rel.parts) & set(NOT_SHIPPED) and src.suffix not in (".o", ".so"):
                        (share / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, share / rel)


setup(cffi_modules=["edgesnn/runtime/_build.py:ffibuilder"],
      cmdclass={"build_py": build_py_with_share},
      # the extension uses the stable ABI only (cffi builds it with Py_LIMITED_API)
      options={"bdist_wheel": {"py_limited_api": "cp311"}})
