"""Builds the optional C accelerator; everything else is declared in pyproject.toml.

``optional=True``: without a C compiler or Python headers the build goes on without it, and
sysemu uses its ctypes implementation of the same functions.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sysemu.kernel._speedups",
            ["src/sysemu/kernel/_speedups.c", "src/sysemu/kernel/_tracefmt.c"],
            depends=["src/sysemu/kernel/_speedups.h"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
