"""Can Qt open a window here? Checked before the `QApplication` exists.

Qt aborts the whole process (SIGABRT, exit 134) when its platform plugin cannot load or
cannot reach a display, and its message names at most one missing library. `check()`
finds that out first and says it in one line: no display at all, or the Debian packages
that hold the shared libraries the plugin (and everything it links) cannot find.

    check()            -> None, or raises DisplayError (one line)
    missing_libraries(plugin, ldd=...) -> sonames the dynamic loader cannot find
    with virtual_display() as display: ...   a fresh Xvfb; display is ':N'

Nothing here imports Qt's libraries: only the location of the PyQt6 package is used.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import logging
import os
import re
import select
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from lab import procs

log = logging.getLogger(__name__)

#: Debian package of each shared library that Qt 6's platform plugins load from the system
#: (PyQt6's wheels bundle Qt itself). gui/apt-packages.txt lists the same packages.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}

#: Platforms that need a display server, and the variable that names it.
_SERVER = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


class DisplayError(Exception):
    """The window cannot open here (one line, for ``twinlab: error: ...``)."""


def plugin_path(platform: str) -> Path | None:
    """PyQt6's plugin file for ``platform`` (e.g. ``xcb`` -> .../platforms/libqxcb.so), or
    None when PyQt6 or that plugin is not installed (Qt then reports it itself)."""
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "Qt6" / "plugins" / "platforms" / f"libq{platform}.so"
        if path.exists():
            return path
    return None


def run_ldd(path: Path) -> str:
    """``ldd PATH``'s output ('' when ldd is not there: nothing can be said then)."""
    try:
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("ldd %s failed: %s", path, exc)
        return ""
    return proc.stdout


def missing_libraries(plugin: Path, ldd: Callable[[Path], str] = run_ldd) -> list[str]:
    """Sonames that ``plugin`` or anything it links cannot find (``ldd``'s ``=> not found``
    lines, in order, without repeats); [] when everything resolves."""
    seen: dict[str, None] = {}
    for name in _NOT_FOUND.findall(ldd(plugin)):
        seen[name] = None
    return list(seen)


def packages_for(sonames: list[str]) -> list[str]:
    """Debian packages holding ``sonames`` (a soname without a known package stays as is)."""
    out: dict[str, None] = {}
    for name in sonames:
        out[DEBIAN_PACKAGES.get(name, name)] = None
    return list(out)


def _x_server_reachable(display: str) -> str | None:
    """None if an X client can connect to ``display`` (libxcb's own xcb_connect, as Qt
    does); else why not. Not checked (None) when libxcb itself cannot be loaded: the
    library check reports that."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return None
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        error = xcb.xcb_connection_has_error(conn)
    finally:
        xcb.xcb_disconnect(conn)
    if error:
        return f"cannot connect to the X server at DISPLAY={display}"
    return None


def check(
    environ: Mapping[str, str] | None = None,
    *,
    plugin: Callable[[str], Path | None] = plugin_path,
    ldd: Callable[[Path], str] = run_ldd,
    connect: Callable[[str], str | None] = _x_server_reachable,
) -> str:
    """The Qt platform the window will use; raises `DisplayError` (one line) when Qt would
    abort instead: no display (neither ``DISPLAY`` nor ``WAYLAND_DISPLAY``, and no explicit
    ``QT_QPA_PLATFORM``), an X server that does not answer, or system libraries that the
    platform plugin needs and that are not installed (named with their Debian packages)."""
    env = os.environ if environ is None else environ
    explicit = env.get("QT_QPA_PLATFORM", "").strip()
    if explicit:
        # "wayland;xcb" is a fallback list; Qt's own options follow a colon
        platform = explicit.split(";")[0].split(":")[0].strip()
    elif env.get("DISPLAY"):
        platform = "xcb"
    elif env.get("WAYLAND_DISPLAY"):
        platform = "wayland"
    else:
        raise DisplayError(
            "the window needs a display, and there is none (DISPLAY and WAYLAND_DISPLAY "
            "are unset): run it on a desktop, under xvfb-run, or with "
            "QT_QPA_PLATFORM=offscreen"
        )
    variable = _SERVER.get(platform)
    if variable and not env.get(variable):
        raise DisplayError(
            f"QT_QPA_PLATFORM={explicit} needs a display, and {variable} is unset"
        )
    path = plugin(platform)
    if path is not None:
        missing = missing_libraries(path, ldd)
        if missing:
            packages = packages_for(missing)
            raise DisplayError(
                f"Qt's {platform} platform plugin cannot load: missing "
                f"{', '.join(missing)}; install the Debian packages: "
                f"sudo apt-get install {' '.join(packages)}"
            )
    if platform == "xcb":
        why = connect(env["DISPLAY"])
        if why is not None:
            raise DisplayError(why)
    log.info("Qt platform %s (plugin %s)", platform, path)
    return platform


@contextlib.contextmanager
def virtual_display(
    size: tuple[int, int] = (1600, 1000), depth: int = 24, *, start_s: float = 60.0,
    xvfb: str = "Xvfb",
) -> Iterator[str]:
    """A fresh X server (``Xvfb``, no TCP) for the block; yields its display, ``':N'``.

    The server picks a free display number itself (``-displayfd``) and writes it once it
    accepts clients, so the display is ready when yielded. ``size`` is the screen in
    pixels (width, height), ``depth`` in bits; ``start_s`` (s) is how long to wait for
    the server before giving up (a failure guard). The server dies with this process
    (`lab.procs.popen`) and is terminated and reaped when the block ends. Raises
    `DisplayError` (one line) when ``xvfb`` is not installed or does not start."""
    if shutil.which(xvfb) is None:
        raise DisplayError(f"{xvfb} is not installed (gui/apt-packages.txt lists xvfb)")
    width, height = size
    read, write = os.pipe()
    try:
        server = procs.popen(
            [xvfb, "-displayfd", str(write), "-screen", "0", f"{width}x{height}x{depth}",
             "-nolisten", "tcp"],
            pass_fds=(write,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    try:
        with os.fdopen(read) as pipe:
            ready, _, _ = select.select([pipe], [], [], start_s)
            number = pipe.readline().strip() if ready else ""
        if not number:
            if server.poll() is None:
                server.kill()
            server.wait(30)
            assert server.stderr is not None
            why = " ".join(server.stderr.read().decode(errors="replace").split())[-300:]
            raise DisplayError(f"{xvfb} did not start (exit {server.returncode}): "
                               f"{why or 'no message'}")
        log.info("%s on :%s (%dx%dx%d)", xvfb, number, width, height, depth)
        yield f":{number}"
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)
        if server.stderr is not None:
            server.stderr.close()


__all__ = [
    "DEBIAN_PACKAGES",
    "DisplayError",
    "check",
    "missing_libraries",
    "packages_for",
    "virtual_display",
]
