"""Builds the optional C accelerator; everything else is declared in pyproject.toml.

``optional=True``: without a C compiler or Python headers the build goes on without it, and
sysemu uses its ctypes implementation of the same functions.
"""

from pathlib import Path

from setuptools import Extension, setup

# The accelerator's sources, split by concern (csrc/module.c says which file owns what), and
# the architecture headers: csrc/arch.h picks the build's own, and stops the compile on an
# architecture that has none, where optional=True lets the install go on without it.
KERNEL = Path("src/sysemu/kernel")
SOURCES = sorted(str(path) for path in (KERNEL / "csrc").glob("*.c"))
HEADERS = sorted(str(path) for path in (*(KERNEL / "csrc").glob("*.h"), *(KERNEL / "arch").glob("*.h")))

setup(
    ext_modules=[
        Extension(
            "sysemu.kernel._speedups",
            SOURCES,
            depends=HEADERS,
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
