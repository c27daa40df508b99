// FUZZ_CHECK: an invariant of a fuzz target. A violation prints what was expected and aborts, so
// libFuzzer reports it as a crash and saves the input (crash-<sha1>) for a unit test.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, what)                                                          \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s: %s\n", __FILE__,       \
                         __LINE__, #cond, std::string(what).c_str());                   \
            std::abort();                                                               \
        }                                                                               \
    } while (0)

// Fuzz inputs as text (the parsers take std::string; embedded NULs included).
inline std::string fuzz_text(const unsigned char *data, std::size_t size) {
    return std::string(reinterpret_cast<const char *>(data), size);
}
