"""The run files' errors: a file that cannot be made or read, a run that cannot fit, a
disk that fills during a run."""

from __future__ import annotations

__all__ = ["RunFileError", "RunSpaceError", "RunStorageError"]


class RunFileError(Exception):
    """A run file cannot be created, opened or understood; the message names the file."""


class RunSpaceError(RunFileError):
    """Before a run: its file would not fit on the disk or under the file-size limit, or its
    buffers not in memory. Nothing was written; the message names the file and the sizes."""


class RunStorageError(RuntimeError):
    """During a run: the disk (or the file-size limit) is too full to go on. Raised by
    :meth:`RunWriter.step`/``test`` so the run stops; every step the message counts is in
    the file, which ``stop`` closes marked incomplete. The message names the file and the
    free space."""
