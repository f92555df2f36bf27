// Firmware version and build stamp of twin_clock (printed in the banner, *IDN? and STAT?).
#ifndef TWIN_CLOCK_VERSION_H
#define TWIN_CLOCK_VERSION_H

#define TWIN_CLOCK_VERSION "1.0.0"

// The build passes -DBUILD_HASH=\"$(git rev-parse --short HEAD)\" (firmware/Makefile).
#ifdef BUILD_HASH
#define TWIN_CLOCK_BUILD BUILD_HASH
#else
#define TWIN_CLOCK_BUILD "unknown"
#endif

// A board's serial number for *IDN?; the sketch prefers one stored in EEPROM.
#ifndef BOARD_SERIAL
#define BOARD_SERIAL "TC0000"
#endif

#endif
