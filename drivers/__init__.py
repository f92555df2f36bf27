"""Instrument drivers (PyVISA, pyserial) implementing the protocols of lab.hal."""
