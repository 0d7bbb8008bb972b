"""The vDSO replacement blob is generated from its assembly source, and is current."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_blob_is_current() -> None:
    if not all(shutil.which(tool) for tool in ("gcc", "objcopy", "objdump", "nm")):
        pytest.skip("gcc and binutils are needed to assemble the blob")
    if os.uname().machine != "x86_64":  # (the blob is x86-64 code; gcc here assembles its own)
        pytest.skip("the blob is x86-64 assembly: this machine's gcc cannot assemble it")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_vdso_clock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, "run python3 scripts/gen_vdso_clock.py" + result.stderr
