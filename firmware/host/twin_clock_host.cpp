// twin_clock_host: the clock board's protocol (firmware/twin_clock/protocol.cpp) on the
// host, for the transcripts and the fuzz tests. Bytes from the host come on stdin, the
// board's lines (ending in \r\n) go to stdout; the banner is printed at start.
//
//   twin_clock_host            bursts are instantaneous (a virtual clock jumps to the
//                              end of each burst): every PULSE answers OK <n> at once
//   twin_clock_host --pace     bursts take real time: edge i rises at t0 + i*period,
//                              OK <n> comes width after the last edge; busy, STAT?
//                              during a burst, SAFE aborts and the watchdog are live
//   --edges                    at exit, print "edges <total>" on stderr
//
// It exits when stdin closes (after a running paced burst has ended).
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../twin_clock/protocol.h"
#include "../twin_clock/version.h"

namespace {

uint64_t monotonic_us() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

void write_all(const char* p, size_t n) {
    while (n) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            _exit(0);  // the reader went away
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

class HostHal : public twin::Hal {
public:
    explicit HostHal(bool pace) : pace_(pace), origin_(monotonic_us()) {}

    uint32_t now_us() override { return static_cast<uint32_t>(now64()); }

    void start_burst(uint32_t n, uint32_t width_us, uint32_t period_us) override {
        n_ = n;
        width_ = width_us;
        period_ = period_us;
        t0_ = now64();
        if (pace_) {
            running_ = true;
            return;
        }
        // instantaneous: all n edges now, the virtual clock moves to the last fall
        done_ = n;
        total_ += n;
        running_ = false;
        virtual_us_ += static_cast<uint64_t>(n - 1) * period_us + width_us;
    }

    void abort_burst() override {
        if (!running_) return;
        done_ = edges_at(now64());
        total_ += done_;
        running_ = false;
    }

    bool burst_running() override {
        if (running_ && now64() >= end_time()) {
            done_ = n_;
            total_ += n_;
            running_ = false;
        }
        return running_;
    }

    uint32_t pulses_done() override { return running_ ? edges_at(now64()) : done_; }

    void write_line(const char* line) override {
        char buf[160];
        size_t n = strlen(line);
        if (n > sizeof(buf) - 2) n = sizeof(buf) - 2;
        memcpy(buf, line, n);
        buf[n] = '\r';
        buf[n + 1] = '\n';
        write_all(buf, n + 2);
    }

    bool running() const { return running_; }
    uint64_t total() const { return total_; }

private:
    uint64_t now64() const { return pace_ ? monotonic_us() - origin_ : virtual_us_; }
    uint64_t end_time() const { return t0_ + static_cast<uint64_t>(n_ - 1) * period_ + width_; }
    uint32_t edges_at(uint64_t t) const {
        if (t < t0_) return 0;
        uint64_t k = (t - t0_) / period_ + 1;
        return k < n_ ? static_cast<uint32_t>(k) : n_;
    }

    bool pace_;
    uint64_t origin_;
    uint64_t virtual_us_ = 0;
    bool running_ = false;
    uint32_t n_ = 0, width_ = 0, period_ = 1, done_ = 0;
    uint64_t t0_ = 0;
    uint64_t total_ = 0;
};

void usage() {
    fprintf(stderr, "usage: twin_clock_host [--pace] [--edges]\n");
    exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    bool pace = false, edges = false;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--pace")) {
            pace = true;
        } else if (!strcmp(argv[i], "--edges")) {
            edges = true;
        } else {
            usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);

    HostHal hal(pace);
    twin::ClockProtocol proto(hal, TWIN_CLOCK_VERSION, TWIN_CLOCK_BUILD, "HOST0001");
    proto.begin();

    bool input_open = true;
    unsigned char buf[4096];
    while (input_open || hal.running()) {
        // a running burst: wake every millisecond for its end and the watchdog
        int timeout = hal.running() ? 1 : -1;
        if (input_open) {
            struct pollfd pfd = {0, POLLIN, 0};
            int r = poll(&pfd, 1, timeout);
            if (r < 0 && errno != EINTR) break;
            if (r > 0) {
                ssize_t got = read(0, buf, sizeof(buf));
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0) {
                    input_open = false;
                } else {
                    for (ssize_t i = 0; i < got; ++i) {
                        proto.feed(buf[i]);
                        proto.poll();
                    }
                }
            }
        } else {
            usleep(1000);
        }
        proto.poll();
    }
    if (edges) fprintf(stderr, "edges %llu\n", static_cast<unsigned long long>(hal.total()));
    return 0;
}
