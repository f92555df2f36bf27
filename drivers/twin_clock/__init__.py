"""The twin clock board over a serial port (firmware/PROTOCOL.md)."""
