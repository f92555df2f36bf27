"""The layers hold (issue 13): nothing under lab/ names drivers/ or gui/ (an import or a
module name in a string handed to importlib); the composition is by entry points; the
training loop imports without the emulator, its wire front ends or numba."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from lab import plugins

ROOT = Path(__file__).resolve().parents[1]
UPPER = ("drivers", "gui")


def _named_modules(tree: ast.AST) -> list[str]:
    """Modules a file names: imports, and string constants that look like a dotted module
    path starting with an upper layer (what importlib.import_module would be handed)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text.split(".")[0] in UPPER and " " not in text and "." in text:
                names.append(text)
    return names


@pytest.mark.parametrize("layer", ["lab"])
def test_the_core_never_names_an_upper_layer(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _named_modules(ast.parse(path.read_text(), str(path))):
            if name.split(".")[0] in UPPER:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, offenders


def test_the_gui_never_imports_drivers() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in sorted((ROOT / "gui").rglob("*.py"))
        for n in _named_modules(ast.parse(p.read_text(), str(p)))
        if n.split(".")[0] == "drivers"
    ]
    assert not offenders, offenders


def test_bench_kinds_and_commands_are_entry_points() -> None:
    assert plugins.names(plugins.BENCHES) == ["emulator", "instruments"]
    assert {"devices", "gui", "replay"} <= set(plugins.names(plugins.COMMANDS))
    for group in (plugins.BENCHES, plugins.COMMANDS):
        for ep in entry_points(group=group):
            assert callable(ep.load()), ep


def _modules_after(statement: str) -> list[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_training_loop_imports_light() -> None:
    loaded = _modules_after("import lab.acquire.trainer")
    heavy = [m for m in loaded if m.split(".")[0] in ("drivers", "gui", "numba", "PyQt6")]
    heavy += [m for m in loaded if m.startswith(("lab.emulator", "scipy.optimize"))]
    assert not heavy, heavy


def test_the_command_line_loads_no_upper_layer_until_a_command_needs_it() -> None:
    loaded = _modules_after("import lab.cli; lab.cli._parser()")
    assert not [m for m in loaded if m.startswith(("PyQt6", "pyvisa", "serial", "lab.emulator"))]
