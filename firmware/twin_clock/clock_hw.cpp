// twin_clock's hardware layer on the ATmega328P (see clock_hw.h, firmware/README.md).
#if defined(__AVR__)

#include "clock_hw.h"

#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>

#include "version.h"

// Shared with clock_isr.S (C names, no mangling).
extern "C" {
volatile uint8_t tc_rx_buf[128];
volatile uint8_t tc_rx_head;
volatile uint8_t tc_rx_tail;
volatile uint8_t tc_rx_lost;     // a byte was dropped (ring full) ...
volatile uint8_t tc_rx_lost_at;  // ... where it belonged
volatile uint32_t tc_left;   // falling edges TIMER1_COMPA still counts before COMPB takes over
volatile uint8_t tc_done;    // set by TIMER1_COMPB when it stopped the counter
}

namespace {

const uint8_t CLOCK_BIT = _BV(PB1);  // digital 9, OC1A
const uint8_t TX_MASK = 127;

uint32_t t2_overflows;  // extended in the main loop (micros32), no interrupt
uint8_t tx_buf[TX_MASK + 1];
uint8_t tx_head, tx_tail;
// The transmitter is idle after begin(): the first byte goes out without looking at
// UDRE0. (Silicon has UDRE0 = 1 then anyway; simavr 1.6 clears it when Arduino's init()
// writes UCSR0B = 0 and only sets it again after a byte went out.)
bool tx_idle;
char serial_buf[17];

// the burst
bool engaged;        // Timer1 set up for a burst that has not been finished/aborted
uint32_t burst_n;
uint32_t last_count;  // pulses of the last burst once it is over

// Clock pin low. With latch_high (a pulse was cut short) the OC1A latch is cleared too,
// so that the next burst starts from low: a forced compare match (FOC1A, non-PWM mode,
// "clear"), with the pin an input meanwhile so that the high latch never reaches it.
void pin_low(bool latch_high) {
    TCCR1A = 0;             // OC1A off: the pin follows PORTB1
    PORTB &= ~CLOCK_BIT;
    if (!latch_high) return;
    DDRB &= ~CLOCK_BIT;     // a few cycles of high impedance (the pull-down holds it)
    TCCR1A = _BV(COM1A1);   // mode 12 or 0 (non-PWM), clear on match
    TCCR1C = _BV(FOC1A);    // latch := 0
    TCCR1A = 0;
    DDRB |= CLOCK_BIT;      // driven low again
}

// Timer1 state -> rising edges so far of the running burst.
uint32_t count_from(uint32_t left, uint8_t flags, uint8_t mask, bool high) {
    uint32_t falls = burst_n - 1 - left;  // counted by TIMER1_COMPA
    if ((mask & _BV(OCIE1B)) && (flags & _BV(OCF1B))) return burst_n;  // last one fell
    uint32_t k = falls;
    if ((mask & _BV(OCIE1A)) && (flags & _BV(OCF1A))) ++k;  // a fall not yet counted
    if (high) ++k;                                           // a pulse going out now
    return k < burst_n ? k : burst_n;
}

}  // namespace

namespace hw {

void begin() {
    cli();
    // Arduino's init() started Timer0 (millis), Timer1 and Timer2 (analogWrite): take
    // them over. Nothing here uses millis() or delay().
    TIMSK0 = 0;

    // clock pin: output, low
    TCCR1B = 0;
    TIMSK1 = 0;
    TIFR1 = 0xFF;
    PORTB &= ~CLOCK_BIT;
    DDRB |= CLOCK_BIT;
    pin_low(true);  // the latch as Arduino's init() left Timer1 is unknown
    engaged = false;

    // time base: Timer2 at clk/1024 (64 us), an overflow every 16.384 ms, extended by
    // micros32() from the main loop (which never stalls that long): no interrupt at all
    TIMSK2 = 0;
    TCCR2A = 0;
    TCCR2B = _BV(CS22) | _BV(CS21) | _BV(CS20);
    TCNT2 = 0;
    TIFR2 = _BV(TOV2);
    t2_overflows = 0;

    // USART0: 1 Mbaud with U2X (UBRR0 = 1: 16 MHz / 8 / 2, exact; protocol version 2)
    tc_rx_head = tc_rx_tail = 0;
    tx_head = tx_tail = 0;
    tx_idle = true;
    UCSR0A = _BV(U2X0);
    UBRR0 = 1;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);

    // serial number: printable characters stored at EEPROM 0..15 (NUL-terminated)
    uint8_t i = 0;
    for (; i < 16; ++i) {
        uint8_t c = eeprom_read_byte(reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(i)));
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) break;
        serial_buf[i] = static_cast<char>(c);
    }
    serial_buf[i] = 0;
    if (i == 0) {
        const char* d = BOARD_SERIAL;
        for (i = 0; d[i] && i < 16; ++i) serial_buf[i] = d[i];
        serial_buf[i] = 0;
    }
    sei();
}

const char* serial_number() { return serial_buf; }

uint32_t micros32() {
    if (TIFR2 & _BV(TOV2)) {
        TIFR2 = _BV(TOV2);
        ++t2_overflows;
    }
    uint8_t t = TCNT2;
    if (TIFR2 & _BV(TOV2)) {  // it wrapped just now
        TIFR2 = _BV(TOV2);
        ++t2_overflows;
        t = TCNT2;
    }
    return (t2_overflows << 14) + (static_cast<uint32_t>(t) << 6);
}

int uart_read() {
    uint8_t tail = tc_rx_tail;
    if (tc_rx_lost && tail == tc_rx_lost_at) {  // the dropped byte's place
        tc_rx_lost = 0;
        return UART_LOST;
    }
    if (tail == tc_rx_head) return -1;
    uint8_t c = tc_rx_buf[tail];
    tc_rx_tail = static_cast<uint8_t>((tail + 1) & 127);
    return c;
}

void uart_pump() {
    while (tx_head != tx_tail && (tx_idle || (UCSR0A & _BV(UDRE0)))) {
        tx_idle = false;
        UDR0 = tx_buf[tx_tail];
        tx_tail = static_cast<uint8_t>((tx_tail + 1) & TX_MASK);
    }
}

void uart_write(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        uint8_t next = static_cast<uint8_t>((tx_head + 1) & TX_MASK);
        while (next == tx_tail) uart_pump();  // full: wait for the wire
        tx_buf[tx_head] = static_cast<uint8_t>(s[i]);
        tx_head = next;
    }
    uart_pump();
}

// Timer1 in fast PWM mode 14 (TOP = ICR1): OC1A goes high at BOTTOM and low at the
// OCR1A match, so width and period are exact multiples of the timer tick with no
// software in either edge. The prescaler is the smallest whose 16 bits hold the period:
//   period <= 4096 us: clk/1 (62.5 ns)   <= 32768 us: clk/8 (0.5 us)
//   <= 262144 us: clk/64 (4 us)          <= 1 s: clk/256 (16 us)
// The period is rounded to the nearest tick, the width up to the next one.
// Counting and stopping: see clock_isr.S.
void pulse_start(uint32_t n, uint32_t width_us, uint32_t period_us) {
    uint32_t cycles = period_us * 16u;  // <= 16e6
    uint8_t cs, shift;
    if (cycles <= 65536ul) {
        cs = _BV(CS10), shift = 0;
    } else if (cycles <= 65536ul * 8) {
        cs = _BV(CS11), shift = 3;
    } else if (cycles <= 65536ul * 64) {
        cs = _BV(CS11) | _BV(CS10), shift = 6;
    } else {
        cs = _BV(CS12), shift = 8;
    }
    uint32_t half = (1ul << shift) >> 1;
    uint32_t period_ticks = (cycles + half) >> shift;
    uint32_t width_ticks = (width_us * 16u + (1ul << shift) - 1) >> shift;
    if (width_ticks < 1) width_ticks = 1;
    if (period_ticks < width_ticks + 2) period_ticks = width_ticks + 2;
    uint16_t top = static_cast<uint16_t>(period_ticks - 1);
    uint16_t ocr = static_cast<uint16_t>(width_ticks - 1);

    TCCR1B = _BV(WGM13) | _BV(WGM12);  // stopped
    TCCR1A = 0;                        // mode 12 (CTC): OCR1x written straight through
    TIMSK1 = 0;
    ICR1 = top;
    OCR1A = ocr;
    OCR1B = ocr;   // the same instant as the falling edge: the stop for the last pulse
    TCNT1 = top;   // the first timer clock wraps to BOTTOM, which raises pulse 1
    TCCR1A = _BV(COM1A1) | _BV(WGM11);  // mode 14, fast PWM, non-inverting OC1A (latch 0)
    OCR1A = ocr;   // again, now into the PWM double buffer that BOTTOM copies from
    OCR1B = ocr;
    tc_left = n - 1;
    tc_done = 0;
    burst_n = n;
    engaged = true;
    TIFR1 = _BV(ICF1) | _BV(OCF1B) | _BV(OCF1A) | _BV(TOV1);
    TIMSK1 = n > 1 ? _BV(OCIE1A) : _BV(OCIE1B);
    TCCR1B = _BV(WGM13) | _BV(WGM12) | cs;   // go
}

bool pulse_running() {
    if (!engaged) return false;
    if (!tc_done) return true;
    // stopped by COMPB in the gap after the last pulse: disconnect OC1A (pin -> PORTB1)
    bool high = PINB & CLOCK_BIT;  // never expected: a stop too late, in the next pulse
    pin_low(high);
    last_count = burst_n;
    engaged = false;
    return false;
}

uint32_t pulse_count() {
    if (!engaged) return last_count;
    // No cli() here: the last pulse's stop must never wait (clock_isr.S). Read until
    // TIMER1_COMPA did not run in between.
    uint32_t left;
    uint8_t flags, mask, done;
    bool high;
    do {
        left = tc_left;
        flags = TIFR1;
        mask = TIMSK1;
        high = PINB & CLOCK_BIT;
        done = tc_done;
    } while (left != tc_left);
    return done ? burst_n : count_from(left, flags, mask, high);
}

void pulse_abort() {
    uint8_t sreg = SREG;
    cli();
    TCCR1B = _BV(WGM13) | _BV(WGM12);  // the counter stops where it is
    bool high = PINB & CLOCK_BIT;      // the pulse's level, held by the stopped timer
    TCCR1A = 0;                        // now the pin follows PORTB1 (low)
    uint32_t left = tc_left;
    uint8_t flags = TIFR1, mask = TIMSK1;
    uint8_t done = tc_done;
    TIMSK1 = 0;
    TIFR1 = _BV(ICF1) | _BV(OCF1B) | _BV(OCF1A) | _BV(TOV1);
    SREG = sreg;
    if (engaged) last_count = done ? burst_n : count_from(left, flags, mask, high);
    engaged = false;
    pin_low(high);
}

}  // namespace hw

#endif  // __AVR__
