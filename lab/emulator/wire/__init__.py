"""The emulator's wire front ends: the SCPI server (TCP), the serial clock board (pty),
the firmware under simavr and the rehearsal bench that runs them together."""
