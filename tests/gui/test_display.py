"""Before any Qt application exists: is there a display, can the platform plugin load?
(`gui.display.check`; a real ldd on real ELF files, a real xcb_connect, real subprocesses.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gui.display import (
    DEBIAN_PACKAGES,
    DisplayError,
    _x_server_reachable,
    check,
    missing_libraries,
    packages_for,
    plugin_path,
    run_ldd,
    virtual_display,
)

REPO = Path(__file__).resolve().parents[2]

#: ldd's output for libqxcb.so on a minimal Debian 12 with only libxcb1 and libx11-6.
MINIMAL_DEBIAN_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibQt6XcbQpa.so.6 => /venv/PyQt6/Qt6/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x7f)
\tlibQt6Gui.so.6 => /venv/PyQt6/Qt6/plugins/platforms/../../lib/libQt6Gui.so.6 (0x7f)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-image.so.0 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-render-util.so.0 => not found
\tlibxcb-shape.so.0 => not found
\tlibxcb-xkb.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def no_display_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_no_display_and_no_platform_is_refused() -> None:
    with pytest.raises(DisplayError, match="needs a display, and there is none"):
        check({})
    with pytest.raises(DisplayError, match="QT_QPA_PLATFORM=xcb needs a display"):
        check({"QT_QPA_PLATFORM": "xcb"})


def test_every_missing_library_is_named_with_its_debian_package() -> None:
    env = {"DISPLAY": ":5"}
    with pytest.raises(DisplayError) as err:
        check(env, plugin=lambda name: Path(f"/fake/libq{name}.so"),
              ldd=lambda path: MINIMAL_DEBIAN_LDD, connect=lambda display: None)
    text = str(err.value)
    assert "\n" not in text and "xcb platform plugin cannot load" in text
    assert text.endswith(
        "sudo apt-get install libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 "
        "libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1"
    )
    assert text.count("libxcb-icccm.so.4") == 1  # listed once, though ldd says it twice


def test_a_real_elf_that_needs_an_absent_library(tmp_path: Path) -> None:
    """A real shared object whose DT_NEEDED names a library that is not installed (built
    against a stand-in, which is then removed): the real ldd reports it."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (firmware/apt-packages.txt lists it)")
    (tmp_path / "a.c").write_text("int absent(void) { return 1; }\n")
    (tmp_path / "b.c").write_text("int absent(void);\nint uses(void) { return absent(); }\n")
    stand_in = tmp_path / "libtwinlab-absent.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-Wl,-soname,libtwinlab-absent.so.1", "-o",
                    str(stand_in), str(tmp_path / "a.c")], check=True)
    plugin = tmp_path / "libqfake.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "b.c"),
                    "-Wl,--no-as-needed", str(stand_in)], check=True)
    stand_in.unlink()
    missing = missing_libraries(plugin)
    assert missing == ["libtwinlab-absent.so.1"]
    assert packages_for(missing) == ["libtwinlab-absent.so.1"]  # no package known: the name
    with pytest.raises(DisplayError, match=r"missing libtwinlab-absent\.so\.1; install"):
        check({"QT_QPA_PLATFORM": "fake"}, plugin=lambda name: plugin)


def test_an_explicit_offscreen_platform_needs_no_display() -> None:
    if plugin_path("offscreen") is None:
        pytest.skip("PyQt6 is not installed")
    assert check({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"


def test_an_x_server_that_does_not_answer_is_named(tmp_path: Path) -> None:
    """A real xcb_connect to a display number no server listens on."""
    free = next(n for n in range(500, 600) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                and not Path(f"/tmp/.X{n}-lock").exists())
    with pytest.raises(DisplayError, match=f"cannot connect to the X server at DISPLAY=:{free}"):
        check({"DISPLAY": f":{free}"}, ldd=lambda path: "")


def test_the_xcb_plugins_system_libraries_are_installed_by_dev() -> None:
    """Every X library the real xcb plugin (and what it links) loads from the system maps
    to a Debian package that gui/apt-packages.txt lists: a PyQt6 update that needs a new
    one fails here, not on a user's desktop."""
    plugin = plugin_path("xcb")
    if plugin is None:
        pytest.skip("PyQt6 is not installed")
    listed = {line.split("#")[0].strip()
              for line in (REPO / "gui" / "apt-packages.txt").read_text().splitlines()}
    output = run_ldd(plugin)
    if not output:
        pytest.skip("ldd is not available")
    sonames = [line.split()[0] for line in output.splitlines() if "=>" in line]
    x_libs = [s for s in sonames if s.startswith(("libxcb", "libxkb", "libX11"))]
    assert "libxcb-cursor.so.0" in x_libs
    for soname in x_libs:
        assert soname in DEBIAN_PACKAGES, soname
        assert DEBIAN_PACKAGES[soname] in listed, soname


@pytest.mark.parametrize("command", [["gui", "--task", "iv", "--p", "0.5"], ["replay", "RUN"]])
def test_without_a_display_the_window_commands_end_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """The real command with DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM unset: one line,
    exit 2 (Qt would abort with exit 134)."""
    if plugin_path("xcb") is None:
        pytest.skip("PyQt6 is not installed")
    if command[0] == "replay":  # a real run file: only the display is missing
        from lab.acquire.settings import settings_from
        from lab.acquire.trainer import Trainer
        from lab.hal.benchfile import load_bench
        from lab.runs import RunWriter
        from lab.tasks import load_task

        run = tmp_path / "run.h5"
        Trainer(load_bench(None), load_task("ii"), settings_from(steps=20), [RunWriter(run)]).run()
        command = ["replay", str(run)]
    proc = subprocess.run([sys.executable, "-m", "lab.cli", *command], cwd=tmp_path,
                          env=no_display_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinlab: error: the window needs a display")


# -- virtual_display: one Xvfb start-up for tests/gui/test_desktop.py and bench/screenshot.py --
needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


@needs_xvfb
def test_a_virtual_display_accepts_clients_and_is_gone_after_the_block() -> None:
    """A real Xvfb: ready when yielded (a real xcb_connect succeeds, `check` says xcb), and
    terminated when the block ends (the same connect is refused)."""
    with virtual_display((320, 200), 24) as display:
        assert display.startswith(":") and display[1:].isdigit()
        assert _x_server_reachable(display) is None
        assert check({"DISPLAY": display}, ldd=lambda path: "") == "xcb"
    assert _x_server_reachable(display) == f"cannot connect to the X server at DISPLAY={display}"


@needs_xvfb
def test_an_xvfb_that_refuses_its_screen_says_why_in_one_line() -> None:
    """A real Xvfb given a depth no screen has exits at once: its own words, one line."""
    with pytest.raises(DisplayError, match=r"^Xvfb did not start \(exit 1\): .*screen") as info:
        with virtual_display((320, 200), 7):
            pytest.fail("a 7-bit screen came up")
    assert "\n" not in str(info.value)


def test_a_missing_xvfb_is_named() -> None:
    with pytest.raises(DisplayError, match=r"^Xvfb-nowhere is not installed .*xvfb"):
        with virtual_display(xvfb="Xvfb-nowhere"):
            pytest.fail("no server, yet a display")
