"""twinlab core: physics, learning rules, tasks, training loop, run files and the HAL.

Headless by design: numpy, scipy and h5py only (no Qt, PyVISA or pyserial).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("twinlab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
