// UUIDv7 event ids (RFC 9562): per-process monotonic generator with a fast PRNG seeded once
// from OpenSSL and reseeded after fork (Postgres backends are forked from the postmaster).
#include "core/event_id.hpp"

#include <openssl/rand.h>
#include <pthread.h>
#include <unistd.h>

#include <ctime>
#include <mutex>
#include <random>

namespace eventhooks::core {

namespace {

// xoshiro256** (Blackman & Vigna), public domain reference algorithm.
struct Xoshiro256 {
    uint64_t s[4] = {0, 0, 0, 0};

    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    uint64_t next() {
        const uint64_t result = rotl(s[1] * 5, 7) * 9;
        const uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }
};

uint64_t splitmix64(uint64_t &x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct Generator {
    std::mutex mutex;
    bool seeded = false;  // false at start and in the child after fork()
    Xoshiro256 rng;
    uint64_t last_ms = 0;  // timestamp and rand_a of the last id handed out
    uint32_t last_sub = 0;
};

Generator &generator() {
    static Generator g;
    return g;
}

void atfork_prepare() { generator().mutex.lock(); }
void atfork_parent() { generator().mutex.unlock(); }
void atfork_child() {
    Generator &g = generator();
    g.seeded = false;  // never share the parent's random stream
    g.mutex.unlock();
}

void seed(Generator &g) {
    static std::once_flag atfork_registered;
    std::call_once(atfork_registered,
                   [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });

    unsigned char bytes[32];
    uint64_t mix = 0;
    if (RAND_bytes(bytes, sizeof bytes) == 1) {
        for (int i = 0; i < 4; ++i) {
            uint64_t word = 0;
            for (int j = 0; j < 8; ++j) word = (word << 8) | bytes[i * 8 + j];
            mix ^= word + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
            g.rng.s[i] = word;
        }
    } else {
        // OpenSSL's generator failed (should not happen): fall back to the OS entropy source,
        // mixed with the pid and time so that forked processes still diverge.
        std::random_device rd;
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        mix = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid()) ^
              (static_cast<uint64_t>(ts.tv_sec) << 30) ^ static_cast<uint64_t>(ts.tv_nsec);
        for (auto &word : g.rng.s) word = splitmix64(mix);
    }
    if ((g.rng.s[0] | g.rng.s[1] | g.rng.s[2] | g.rng.s[3]) == 0) {
        for (auto &word : g.rng.s) word = splitmix64(mix);  // all-zero state is a fixed point
    }
    g.seeded = true;
}

constexpr uint32_t kSubMsSteps = 4096;  // 12 bits of rand_a

}  // namespace

Uuid new_event_uuid_v7() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms =
        static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
    uint32_t sub = static_cast<uint32_t>((static_cast<uint64_t>(ts.tv_nsec) % 1000000) *
                                         kSubMsSteps / 1000000);

    uint64_t random;
    {
        Generator &g = generator();
        std::lock_guard<std::mutex> lock(g.mutex);
        if (!g.seeded) seed(g);
        if (ms < g.last_ms || (ms == g.last_ms && sub <= g.last_sub)) {
            // Same or earlier (clock stepped back) instant: continue after the last id.
            ms = g.last_ms;
            sub = g.last_sub + 1;
            if (sub == kSubMsSteps) {
                ++ms;
                sub = 0;
            }
        }
        g.last_ms = ms;
        g.last_sub = sub;
        random = g.rng.next();
    }

    Uuid u;
    ms &= 0xFFFFFFFFFFFFULL;
    for (int i = 0; i < 6; ++i) u[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
    u[6] = static_cast<uint8_t>(0x70 | (sub >> 8));  // version 7 + rand_a high nibble
    u[7] = static_cast<uint8_t>(sub & 0xFF);
    u[8] = static_cast<uint8_t>(0x80 | ((random >> 56) & 0x3F));  // variant 0b10 + 6 bits
    for (int i = 9; i < 16; ++i) u[i] = static_cast<uint8_t>(random >> (8 * (15 - i)));
    return u;
}

std::string uuid_to_string(const Uuid &uuid) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(kHex[uuid[i] >> 4]);
        out.push_back(kHex[uuid[i] & 0x0F]);
    }
    return out;
}

}  // namespace eventhooks::core
