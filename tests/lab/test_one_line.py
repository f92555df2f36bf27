"""`lab.errors.one_line`, the one formatting of an exception as one line (issue 13): the
lab (run files, the live process, netlists), the drivers and the window all use it."""

from __future__ import annotations

import errno
from pathlib import Path

import h5py
import pytest

from lab.errors import one_line


def test_a_text_is_collapsed_to_one_line() -> None:
    assert one_line("  ngspice:\n  warning\tcheck  ") == "ngspice: warning check"
    assert one_line("") == ""


def test_a_missing_file_is_its_reason_and_its_name(tmp_path: Path) -> None:
    """Before: the reason only; the name the live process and discovery used to keep
    (in ``[Errno 2] ...: '/x'``) was lost."""
    path = tmp_path / "nope.txt"
    with pytest.raises(OSError) as exc:
        path.open()
    assert one_line(exc.value) == f"No such file or directory: {str(path)!r}"


def test_a_rename_names_both_files(tmp_path: Path) -> None:
    with pytest.raises(OSError) as exc:
        (tmp_path / "a").rename(tmp_path / "b")
    assert one_line(exc.value) == (
        f"No such file or directory: {str(tmp_path / 'a')!r} -> {str(tmp_path / 'b')!r}")


def test_an_errno_in_front_of_the_text_is_dropped_and_names_are_not_repeated() -> None:
    # pyserial: SerialException(errno, "could not open port X: [Errno 2] ...: 'X'")
    exc = OSError(errno.ENOENT, "could not open port /dev/ttyX: [Errno 2] No such file",
                  "/dev/ttyX")
    assert one_line(exc) == "could not open port /dev/ttyX: [Errno 2] No such file"


def test_an_hdf5_error_is_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "not.h5"
    path.write_text("plain text\n")
    with pytest.raises(OSError) as exc:
        h5py.File(path, "r")
    text = one_line(exc.value)
    assert "\n" not in text and not text.startswith("[Errno")
    assert "file signature not found" in text


@pytest.mark.parametrize(("exc", "want"), [
    (OSError("no errno here"), "no errno here"),
    (OSError("a", "b"), "[Errno a] b"),  # a text "errno" is not an errno (the writer's rule)
    (ValueError("bad\n  value"), "bad value"),
    (EOFError(), "EOFError"),
    (RuntimeError("  \n "), "RuntimeError"),  # before: "" (text of whitespace only)
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), "Broken pipe"),
])
def test_other_exceptions_are_their_text_or_their_type(exc: BaseException, want: str) -> None:
    assert one_line(exc) == want


def test_there_is_no_private_copy_left() -> None:
    root = Path(__file__).resolve().parents[2]
    copies = [str(p.relative_to(root)) for top in ("lab", "drivers", "gui")
              for p in (root / top).rglob("*.py") if "def _one_line" in p.read_text()]
    assert not copies
