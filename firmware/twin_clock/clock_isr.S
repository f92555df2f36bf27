// twin_clock's time-critical interrupt handlers (ATmega328P), see clock_hw.cpp.
//
// The burst's last pulse must be stopped inside its gap (period - width >= 2 us = 32
// cycles): TIMER1_COMPB writes CS1 = 0 within ~12 cycles of the falling edge. So that
// nothing else can hold it up, nothing keeps interrupts off for more than a few
// cycles: the UART receive handler re-enables them as soon as it has read UDR0 (which
// clears RXC0, 14 cycles), TX and the Timer2 time base are polled from the main loop,
// and the main loop never disables interrupts while a burst runs. Worst case: ~14
// cycles of the receive handler's head + 12 of this one's = 26 < 32.

#include <avr/io.h>

#define MEM(r) _SFR_MEM_ADDR(r)
#define IO(r) _SFR_IO_ADDR(r)
#define RX_MASK 127

    .section .text

// ---- USART0 receive: byte -> tc_rx_buf[tc_rx_head]. When the ring is full the byte is
// dropped and the first such place is noted (tc_rx_lost, tc_rx_lost_at): the main loop
// discards the line that lost it instead of running what is left of it.
    .global USART_RX_vect
USART_RX_vect:
    push r24
    lds  r24, MEM(UDR0)     // clears RXC0, so the vector cannot fire again at once
    sei                     // Timer1 may interrupt the rest of this handler
    push r25
    in   r25, IO(SREG)      // only I changed since entry
    push r25
    push r30
    push r31
    lds  r30, tc_rx_head
    mov  r25, r30
    inc  r25
    andi r25, RX_MASK       // next head
    lds  r31, tc_rx_tail
    cp   r25, r31
    breq 2f                 // full: drop
    ldi  r31, 0
    subi r30, lo8(-(tc_rx_buf))
    sbci r31, hi8(-(tc_rx_buf))
    st   Z, r24
    sts  tc_rx_head, r25
1:  pop  r31
    pop  r30
    pop  r25
    out  IO(SREG), r25
    pop  r25
    pop  r24
    reti
2:  lds  r31, tc_rx_lost
    tst  r31
    brne 1b                 // a loss is pending already
    sts  tc_rx_lost_at, r30 // where the dropped byte belonged
    ldi  r31, 1
    sts  tc_rx_lost, r31
    rjmp 1b

// ---- Timer1 compare A: the falling edge of pulses 1 .. n-1.
// tc_left (n - 1 at the start) counts down; when it reaches 0 the next falling edge is
// the last one: hand it to compare B (same OCR value) and drop compare A. 29 cycles
// (entry included) on the usual path, 46 when it arms compare B: both less than the
// shortest period (4 us = 64 cycles), so no edge is ever missed.
    .global TIMER1_COMPA_vect
TIMER1_COMPA_vect:
    push r24
    in   r24, IO(SREG)
    push r24
    lds  r24, tc_left
    subi r24, 1
    sts  tc_left, r24
    brcs 4f                 // the low byte was 0: borrow from the high bytes
    brne 3f                 // not zero yet
    lds  r24, tc_left+1     // low byte now 0: zero if the high bytes are
    push r25
    lds  r25, tc_left+2
    or   r24, r25
    lds  r25, tc_left+3
    or   r24, r25
    pop  r25
    brne 3f
    ldi  r24, (1 << OCF1B)  // the flag from this very edge is stale
    out  IO(TIFR1), r24
    ldi  r24, (1 << OCIE1B)
    sts  MEM(TIMSK1), r24
3:  pop  r24
    out  IO(SREG), r24
    pop  r24
    reti
4:  lds  r24, tc_left+1
    subi r24, 1
    sts  tc_left+1, r24
    brcc 3b
    lds  r24, tc_left+2
    subi r24, 1
    sts  tc_left+2, r24
    brcc 3b
    lds  r24, tc_left+3
    subi r24, 1
    sts  tc_left+3, r24
    rjmp 3b

// ---- Timer1 compare B: the falling edge of the last pulse. Stop the counter before
// it reaches BOTTOM (which would start another pulse). No flags are touched.
    .global TIMER1_COMPB_vect
TIMER1_COMPB_vect:
    push r24
    ldi  r24, (1 << WGM13) | (1 << WGM12)   // CS1 = 0: stopped
    sts  MEM(TCCR1B), r24
    sts  tc_done, r24                       // non-zero: the burst is over
    ldi  r24, 0
    sts  MEM(TIMSK1), r24
    pop  r24
    reti
