"""The generated references, docs/cli.md and docs/api.md, match what scripts/gen_reference.py
writes from today's parser and docstrings, on any terminal."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sysemu
import sysemu.tools.trace
from sysemu.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent
GENERATOR = REPO / "scripts" / "gen_reference.py"
REGENERATE = "python3 scripts/gen_reference.py"


@pytest.mark.parametrize("columns", [None, "40", "250"])
def test_committed_pages_are_current(columns: str | None) -> None:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = columns
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"docs/cli.md or docs/api.md differs from what the generator writes now; "
        f"run `{REGENERATE}` and commit the result\n{result.stderr}"
    )


def test_cli_page_has_every_command_and_option() -> None:
    page = (REPO / "docs" / "cli.md").read_text()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, sub in commands.choices.items():
        if f"## `sysemu {name}`" not in page:
            missing.append(name)
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and f"`{option}" not in page:
                    missing.append(f"{name} {option}")
    assert missing == []
    assert "## Exit status" in page


def test_api_page_has_every_public_name_and_member() -> None:
    page = (REPO / "docs" / "api.md").read_text()
    missing = []
    for module in (sysemu, sysemu.tools.trace):
        for name in module.__all__:
            if f"### `{module.__name__}.{name}`" not in page:
                missing.append(f"{module.__name__}.{name}")
            value = getattr(module, name)
            if inspect.isclass(value):
                for member_name, member in vars(value).items():
                    method = inspect.isfunction(member) or isinstance(
                        member, property | classmethod | staticmethod
                    )
                    heading = f"#### `{name}.{member_name}`"
                    if method and not member_name.startswith("_") and heading not in page:
                        missing.append(f"{name}.{member_name}")
    assert missing == []
    assert " at 0x" not in page


@pytest.mark.parametrize("page", ["cli.md", "api.md"])
def test_every_link_within_a_page_has_its_heading(page: str) -> None:
    text = (REPO / "docs" / page).read_text()
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    # GitHub's anchor for a heading: lower case, punctuation but "-" and "_" dropped.
    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    assert sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors) == []
