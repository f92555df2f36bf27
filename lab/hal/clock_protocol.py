"""The clock board's serial protocol constants: one definition (firmware/PROTOCOL.md).

firmware/PROTOCOL.md is the contract; this module is its numbers and words, imported by
the driver (`drivers.twin_clock.board`), the emulated board
(`lab.emulator.clock_protocol`) and the bench-file schema (`drivers.bench`).
``tests/firmware/test_protocol_constants.py`` reads PROTOCOL.md and compares. Plain
constants only, no I/O. A change here that an existing host could misread bumps
`PROTOCOL_VERSION` (and PROTOCOL.md).
"""

from __future__ import annotations

PROTOCOL_VERSION = 2  # "proto 2" in the banner, "OK 2" to VER?

# -- line format --------------------------------------------------------------------------
BAUD = 1_000_000  # default baud rate, 8N1: exact on the Uno (16 MHz, U2X, UBRR0 = 1)
BAUD_V1 = 115_200  # protocol version 1's rate: where an old-firmware board is probed
# the rates a bench file may name (`[clock] baud`, for a board built for another): the
# standard ones from 9600 up, and those exact on the Uno's 16 MHz USART (250000, 500000)
BAUD_RATES = (9_600, 19_200, 38_400, 57_600, BAUD_V1, 230_400, 250_000, 460_800, 500_000,
              921_600, BAUD, 2_000_000)  # fmt: skip
MAX_LINE = 63  # characters before the terminator; longer -> ERR 3
TAG_MAX = 65_535  # sequence tag "#<seq> ", 0..TAG_MAX

# -- banner after reset -------------------------------------------------------------------
BANNER_FORMAT = "READY twin_clock {fw} proto {proto}"  # fw: firmware version, no spaces
BANNER_PATTERN = rb"READY twin_clock (\S+) proto (\d+)"  # groups: firmware, protocol
IDN_PREFIX = "twinlab,twin_clock"  # *IDN? -> OK twinlab,twin_clock,<serial>,<firmware>,<build>

# -- commands and replies -----------------------------------------------------------------
IDN, VER, PULSE, STAT, SAFE, WDT = "*IDN?", "VER?", "PULSE", "STAT?", "SAFE", "WDT"
COMMANDS = frozenset({IDN, VER, PULSE, STAT, SAFE, WDT})
ALLOWED_IN_BURST = frozenset({STAT, SAFE, IDN})  # answered at once during a burst
OK, ERR = "OK", "ERR"  # reply prefixes: "OK[ <payload>]", "ERR <code> <text>"
STATE_IDLE, STATE_BURST, STATE_SAFE = "IDLE", "BURST", "SAFE"  # STAT? state=
STATUS_FIELDS = ("pulses", "err", "state", "wdt")  # STAT? payload, in order

# -- argument ranges (outside -> ERR 2) ---------------------------------------------------
N_MIN, N_MAX = 1, 1_000_000  # pulses per PULSE command
WIDTH_MIN_US, WIDTH_MAX_US = 2, 10_000  # pulse width, us
PERIOD_GAP_US = 2  # the period is at least width + PERIOD_GAP_US, us
PERIOD_MIN_US = WIDTH_MIN_US + PERIOD_GAP_US  # the smallest period any width allows, us
PERIOD_MAX_US = 1_000_000  # us
WDT_MAX_MS = 60_000  # watchdog time-out, ms; 0 = off (the default)
DEFAULT_WIDTH_US, DEFAULT_PERIOD_US = 10, 100  # PULSE defaults, us

# -- error codes --------------------------------------------------------------------------
ERR_UNKNOWN, ERR_ARG, ERR_LONG, ERR_BUSY, ERR_WATCHDOG, ERR_ABORTED = 1, 2, 3, 4, 5, 6
ERR_TEXT = {
    ERR_UNKNOWN: "unknown command",
    ERR_ARG: "bad argument",
    ERR_LONG: "line too long",
    ERR_BUSY: "busy",
    ERR_WATCHDOG: "watchdog",  # followed by the pulses that went out
    ERR_ABORTED: "aborted",  # followed by the pulses that went out
}
