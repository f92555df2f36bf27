// twin_clock's hardware on the Uno (ATmega328P, 16 MHz), register level. See
// firmware/README.md for the timing this gives and why it is built this way.
//
//   clock pin  digital 9 = PB1 = OC1A, driven low when idle and in the safe state
//   Timer1     the pulse train, edges made by the compare unit (no software in the edge)
//   Timer2     the time base (64 us ticks, polled) for the protocol's watchdog
//   USART0     1 Mbaud 8N1 (U2X, UBRR0 = 1: exact at 16 MHz), our own driver (Arduino's Serial is unused)
//   Timer0     Arduino's millis() interrupt is switched off: nothing here uses it
#ifndef TWIN_CLOCK_CLOCK_HW_H
#define TWIN_CLOCK_CLOCK_HW_H

#include <stddef.h>
#include <stdint.h>

namespace hw {

void begin();                  // pins low, UART, time base; call first in setup()
uint32_t micros32();           // microseconds since begin(), 64 us steps, wraps; call
                               // at least every 16 ms (the main loop does)
const char* serial_number();   // from EEPROM (bytes 0..15, printable) or BOARD_SERIAL

const int UART_LOST = 0x100;   // uart_read(): bytes were lost here (host sent too fast)
int uart_read();               // next received byte, UART_LOST, or -1
void uart_write(const char* s, size_t n);  // queue; waits only while the queue is full
void uart_pump();              // move queued bytes to the UART; call every loop

void pulse_start(uint32_t n, uint32_t width_us, uint32_t period_us);
void pulse_abort();            // stop now, pin low; safe to call at any time
bool pulse_running();
uint32_t pulse_count();        // rising edges of the current/last burst

}  // namespace hw

#endif
