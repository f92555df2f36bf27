// The clock board's serial protocol, version 2: see protocol.h and firmware/PROTOCOL.md.
#include "protocol.h"

#include <string.h>

namespace twin {

namespace {

const char* const ERR_TEXT[] = {
    "", "unknown command", "bad argument", "line too long", "busy", "watchdog", "aborted",
};

const char* const STATE_TEXT[] = {"IDLE", "BURST", "SAFE"};

// A run of ASCII digits (no sign, leading zeros fine) -> value, saturated at 2^32 - 1 so
// that a number with too many digits is out of every range instead of wrapping.
bool number(const uint8_t* p, uint8_t len, uint32_t* out) {
    if (len == 0) return false;
    uint32_t v = 0;
    for (uint8_t i = 0; i < len; ++i) {
        uint8_t d = static_cast<uint8_t>(p[i] - '0');
        if (d > 9) return false;
        if (v > (0xFFFFFFFFu - d) / 10u) {
            v = 0xFFFFFFFFu;
        } else {
            v = v * 10u + d;
        }
    }
    *out = v;
    return true;
}

bool word_is(const uint8_t* p, uint8_t len, const char* word) {
    size_t n = strlen(word);
    return n == len && memcmp(p, word, n) == 0;
}

// Decimal digits of v into out (at least 11 bytes); returns out.
char* utoa10(uint32_t v, char* out) {
    char tmp[11];
    uint8_t n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10u);
        v /= 10u;
    } while (v);
    uint8_t i = 0;
    while (n) out[i++] = tmp[--n];
    out[i] = 0;
    return out;
}

}  // namespace

ClockProtocol::Line& ClockProtocol::Line::s(const char* text) {
    while (*text && len_ < sizeof(buf_) - 1) buf_[len_++] = *text++;
    buf_[len_] = 0;
    return *this;
}

ClockProtocol::Line& ClockProtocol::Line::u(uint32_t value) {
    char digits[11];
    return s(utoa10(value, digits));
}

ClockProtocol::ClockProtocol(Hal& hal, const char* fw_version, const char* build,
                             const char* serial)
    : hal_(hal),
      fw_(fw_version),
      build_(build),
      serial_(serial),
      len_(0),
      overflow_(false),
      state_(IDLE),
      err_(ERR_NONE),
      wdt_ms_(0),
      pulses_(0),
      last_rx_(0),
      burst_n_(0) {
    burst_tag_[0] = 0;
}

void ClockProtocol::begin() {
    hal_.abort_burst();
    state_ = IDLE;
    err_ = ERR_NONE;
    wdt_ms_ = 0;
    pulses_ = 0;
    len_ = 0;
    overflow_ = false;
    burst_tag_[0] = 0;
    last_rx_ = hal_.now_us();
    Line banner;
    banner.s("READY twin_clock ").s(fw_).s(" proto ").u(PROTO_VERSION);
    hal_.write_line(banner.c_str());
}

uint32_t ClockProtocol::pulses() const {
    return state_ == BURST ? pulses_ + hal_.pulses_done() : pulses_;
}

void ClockProtocol::feed(uint8_t c) {
    last_rx_ = hal_.now_us();  // any byte feeds the watchdog
    if (c == '\r') return;     // dropped wherever it is; not a terminator
    if (c == '\n') {
        poll();  // a burst that ended before this line is answered first
        if (overflow_) {
            error("", ERR_LONG);  // the tag went with the line: untagged
        } else if (len_) {
            line(buf_, len_);
        }  // an empty line gets no reply
        len_ = 0;
        overflow_ = false;
        return;
    }
    if (len_ < MAX_LINE) {
        buf_[len_++] = c;
    } else {
        overflow_ = true;  // discarded up to its terminator
    }
}

// The UART dropped bytes (the host sent faster than the board answers): what is left of
// this line is not a command the host sent, so it is discarded like an overlong one.
void ClockProtocol::feed_lost() { overflow_ = true; }

void ClockProtocol::poll() {
    if (state_ != BURST) return;
    if (!hal_.burst_running()) {
        pulses_ += hal_.pulses_done();
        state_ = IDLE;
        Line ok;
        ok.s("OK ").u(burst_n_);
        reply(burst_tag_, ok);
        return;
    }
    if (wdt_ms_ && hal_.now_us() - last_rx_ >= static_cast<uint32_t>(wdt_ms_) * 1000u) {
        end_burst_safe(ERR_WATCHDOG);
    }
}

void ClockProtocol::end_burst_safe(uint8_t code) {
    hal_.abort_burst();
    uint32_t k = hal_.pulses_done();
    pulses_ += k;
    state_ = SAFE;
    error(burst_tag_, code, true, k);
}

void ClockProtocol::reply(const char* tag, Line& text) {
    Line out;
    out.s(tag).s(text.c_str());
    hal_.write_line(out.c_str());
}

void ClockProtocol::error(const char* tag, uint8_t code, bool with_count, uint32_t count) {
    err_ = code;
    Line text;
    text.s("ERR ").u(code).s(" ").s(ERR_TEXT[code]);
    if (with_count) text.s(" ").u(count);
    reply(tag, text);
}

// One complete, non-empty line of at most MAX_LINE characters (NUL is a character).
void ClockProtocol::line(const uint8_t* p, uint8_t len) {
    char tag[8] = {0};  // "#65535 "
    if (p[0] == '#') {
        uint8_t space = 1;
        while (space < len && p[space] != ' ') ++space;
        uint32_t seq = 0;
        if (space >= len || !number(p + 1, static_cast<uint8_t>(space - 1), &seq) ||
            seq > TAG_MAX) {
            error("", ERR_ARG);  // a malformed tag cannot be echoed
            return;
        }
        tag[0] = '#';
        utoa10(seq, tag + 1);
        size_t t = strlen(tag);
        tag[t] = ' ';
        tag[t + 1] = 0;
        p += space + 1;
        len = static_cast<uint8_t>(len - space - 1);
    }

    uint8_t w = 0;
    while (w < len && p[w] != ' ') ++w;
    Cmd cmd = C_UNKNOWN;
    if (word_is(p, w, "*IDN?")) {
        cmd = C_IDN;
    } else if (word_is(p, w, "VER?")) {
        cmd = C_VER;
    } else if (word_is(p, w, "PULSE")) {
        cmd = C_PULSE;
    } else if (word_is(p, w, "STAT?")) {
        cmd = C_STAT;
    } else if (word_is(p, w, "SAFE")) {
        cmd = C_SAFE;
    } else if (word_is(p, w, "WDT")) {
        cmd = C_WDT;
    }
    if (cmd == C_UNKNOWN) {
        error(tag, ERR_UNKNOWN);
        return;
    }
    if (state_ == BURST && cmd != C_STAT && cmd != C_SAFE && cmd != C_IDN) {
        error(tag, ERR_BUSY);
        return;
    }

    // arguments: single spaces between runs of digits; an empty one is bad
    uint32_t nums[3] = {0, 0, 0};
    uint8_t count = 0;
    bool bad = false;
    uint8_t i = w;
    while (i < len) {  // p[i] is a space
        uint8_t start = static_cast<uint8_t>(i + 1), end = start;
        while (end < len && p[end] != ' ') ++end;
        uint32_t v = 0;
        if (!number(p + start, static_cast<uint8_t>(end - start), &v)) bad = true;
        if (count < 3) nums[count] = v;
        ++count;  // at most 32 on a 63-character line
        i = end;
    }
    if (bad) {
        error(tag, ERR_ARG);
        return;
    }
    if (cmd == C_PULSE) {
        pulse(tag, nums, count);
        return;
    }
    if (count) {  // every other command takes at most one argument (WDT exactly one)
        if (cmd == C_WDT && count == 1 && nums[0] <= WDT_MAX) {
            wdt_ms_ = static_cast<uint16_t>(nums[0]);
            Line ok;
            ok.s("OK ").u(wdt_ms_);
            reply(tag, ok);
        } else {
            error(tag, ERR_ARG);
        }
        return;
    }
    Line ok;
    switch (cmd) {
        case C_IDN:
            ok.s("OK twinlab,twin_clock,").s(serial_).s(",").s(fw_).s(",").s(build_);
            reply(tag, ok);
            break;
        case C_VER:
            ok.s("OK ").u(PROTO_VERSION);
            reply(tag, ok);
            break;
        case C_STAT:
            ok.s("OK pulses=").u(pulses()).s(" err=").u(err_);
            ok.s(" state=").s(STATE_TEXT[state_]).s(" wdt=").u(wdt_ms_);
            reply(tag, ok);
            break;
        case C_SAFE: {
            bool aborting = state_ == BURST;
            hal_.abort_burst();  // clock pin low in any case
            uint32_t k = aborting ? hal_.pulses_done() : 0;
            pulses_ += k;
            state_ = SAFE;
            ok.s("OK");
            reply(tag, ok);
            if (aborting) error(burst_tag_, ERR_ABORTED, true, k);
            break;
        }
        default:  // WDT without its argument
            error(tag, ERR_ARG);
            break;
    }
}

void ClockProtocol::pulse(const char* tag, const uint32_t* nums, uint8_t count) {
    if (count < 1 || count > 3) {
        error(tag, ERR_ARG);
        return;
    }
    uint32_t n = nums[0];
    uint32_t width = count > 1 ? nums[1] : DEFAULT_WIDTH_US;
    uint32_t period = count > 2 ? nums[2] : DEFAULT_PERIOD_US;
    bool ok = n >= 1 && n <= N_MAX && width >= WIDTH_MIN && width <= WIDTH_MAX &&
              period >= width + 2 && period <= PERIOD_MAX;
    if (!ok) {
        error(tag, ERR_ARG);
        return;
    }
    strcpy(burst_tag_, tag);
    burst_n_ = n;
    state_ = BURST;
    hal_.start_burst(n, width, period);
    poll();  // an instantaneous Hal is done already
}

}  // namespace twin
