// The clock board's serial protocol (firmware/PROTOCOL.md, version 2): line parser and
// state machine, with no Arduino calls, no heap and no String. It is fed bytes and talks
// to the hardware through `Hal`; the sketch (twin_clock.ino) binds a Hal to Timer1 and
// the UART, the host build (firmware/host) binds one to a virtual clock.
//
// This is a line-for-line port of lab/emulator/clock_protocol.py; the choices
// PROTOCOL.md leaves open are those listed in firmware/tests/README.md.
#ifndef TWIN_CLOCK_PROTOCOL_H
#define TWIN_CLOCK_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

namespace twin {

// What the protocol needs from the board. All calls come from the main loop.
class Hal {
public:
    // Microseconds from any origin; wraps at 2^32 (differences are taken unsigned).
    virtual uint32_t now_us() = 0;
    // Start a burst of n rising edges on the clock pin: edge i rises at t0 + i*period_us
    // and stays high width_us. Arguments are in range (checked by the protocol).
    virtual void start_burst(uint32_t n, uint32_t width_us, uint32_t period_us) = 0;
    // Stop the burst at once: clock pin low, outputs in their safe state. Also called
    // outside a burst (the SAFE command), where it only makes sure the pin is low.
    virtual void abort_burst() = 0;
    // True from start_burst until the last pulse has fallen (or abort_burst).
    virtual bool burst_running() = 0;
    // Rising edges of the current (or last) burst so far, a pulse cut short counted.
    virtual uint32_t pulses_done() = 0;
    // Send one reply line; the Hal adds "\r\n".
    virtual void write_line(const char* line) = 0;

protected:
    ~Hal() {}
};

enum State { IDLE = 0, BURST = 1, SAFE = 2 };

enum ErrCode {
    ERR_NONE = 0,
    ERR_UNKNOWN = 1,
    ERR_ARG = 2,
    ERR_LONG = 3,
    ERR_BUSY = 4,
    ERR_WATCHDOG = 5,
    ERR_ABORTED = 6,
};

const uint8_t PROTO_VERSION = 2;
const uint8_t MAX_LINE = 63;  // characters before the terminator
const uint32_t TAG_MAX = 65535;
const uint32_t N_MAX = 1000000;
const uint32_t WIDTH_MIN = 2, WIDTH_MAX = 10000;  // us
const uint32_t PERIOD_MAX = 1000000;              // us; the minimum is width + 2
const uint32_t WDT_MAX = 60000;                   // ms
const uint32_t DEFAULT_WIDTH_US = 10, DEFAULT_PERIOD_US = 100;

class ClockProtocol {
public:
    // fw_version, build and serial must outlive the object and hold no spaces or commas.
    ClockProtocol(Hal& hal, const char* fw_version, const char* build, const char* serial);

    void begin();           // after reset: safe pin, counters 0, prints the banner
    void feed(uint8_t c);   // one byte from the host
    void feed_lost();       // bytes of the current line were lost: discard it (ERR 3)
    void poll();            // end of burst, watchdog; call often (also done by feed)

    State state() const { return state_; }
    uint32_t pulses() const;  // since reset, the running burst's edges included
    uint8_t err() const { return err_; }
    uint16_t wdt_ms() const { return wdt_ms_; }

private:
    enum Cmd { C_UNKNOWN, C_IDN, C_VER, C_PULSE, C_STAT, C_SAFE, C_WDT };

    // One outgoing line, built in place (fixed size, truncates rather than overflows).
    class Line {
    public:
        Line() : len_(0) { buf_[0] = 0; }
        Line& s(const char* text);
        Line& u(uint32_t value);
        const char* c_str() const { return buf_; }

    private:
        char buf_[112];
        uint8_t len_;
    };

    void line(const uint8_t* p, uint8_t len);
    void reply(const char* tag, Line& text);
    void error(const char* tag, uint8_t code, bool with_count = false, uint32_t count = 0);
    void pulse(const char* tag, const uint32_t* nums, uint8_t count);
    void end_burst_safe(uint8_t code);  // abort the running burst, reply code with k

    Hal& hal_;
    const char* fw_;
    const char* build_;
    const char* serial_;

    uint8_t buf_[MAX_LINE];
    uint8_t len_;
    bool overflow_;

    State state_;
    uint8_t err_;
    uint16_t wdt_ms_;
    uint32_t pulses_;     // pulses of finished bursts since reset
    uint32_t last_rx_;    // now_us() of the last byte received
    uint32_t burst_n_;
    char burst_tag_[8];   // "#65535 " of the running PULSE, or ""
};

}  // namespace twin

#endif
