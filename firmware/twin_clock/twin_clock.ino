// twin_clock: the global learning clock of the twinlab twin network.
// Arduino Uno (ATmega328P, 16 MHz). Serial protocol: firmware/PROTOCOL.md, version 2.
//
// The sketch only binds the pieces: the protocol (protocol.h, plain C++) to the
// hardware (clock_hw.h: clock pulses on digital 9 = PB1 = OC1A from Timer1, the UART at
// 1 Mbaud 8N1, a 4 us time base on Timer2). Build: firmware/Makefile (or the Arduino IDE).
#include "clock_hw.h"
#include "protocol.h"
#include "version.h"

#include <string.h>

namespace {

class BoardHal : public twin::Hal {
public:
    uint32_t now_us() override { return hw::micros32(); }
    void start_burst(uint32_t n, uint32_t width_us, uint32_t period_us) override {
        hw::pulse_start(n, width_us, period_us);
    }
    void abort_burst() override { hw::pulse_abort(); }
    bool burst_running() override { return hw::pulse_running(); }
    uint32_t pulses_done() override { return hw::pulse_count(); }
    void write_line(const char* line) override {
        hw::uart_write(line, strlen(line));
        hw::uart_write("\r\n", 2);
    }
};

BoardHal board;
twin::ClockProtocol protocol(board, TWIN_CLOCK_VERSION, TWIN_CLOCK_BUILD, hw::serial_number());

}  // namespace

void setup() {
    hw::begin();
    protocol.begin();  // clock pin low, then the banner
}

void loop() {
    int c;
    while ((c = hw::uart_read()) >= 0) {
        if (c == hw::UART_LOST) {
            protocol.feed_lost();  // that line is not run: ERR 3 at its end
        } else {
            protocol.feed(static_cast<uint8_t>(c));
        }
        hw::uart_pump();
    }
    protocol.poll();
    hw::uart_pump();
}
