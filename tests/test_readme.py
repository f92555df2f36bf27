"""The README's Scripting section is true: its Python block runs as it stands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scripting_block() -> str:
    """The first ```python block after the '## Scripting' heading of README.md."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Scripting\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md: no python block in the Scripting section"
    return match.group(1)


def test_the_scripting_example_runs_in_an_empty_directory(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(scripting_block())
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "'iv'" in lines[0]
    assert re.fullmatch(r"500 steps, final scaled error \d\.\d{4}", lines[1])
    assert lines[2] == "True 500 0.5"
    assert (tmp_path / "iv.h5").exists()
