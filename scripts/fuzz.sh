#!/usr/bin/env bash
# Runs the libFuzzer targets of src/core's parsers (test/fuzz/<name>_fuzz.cpp, built with clang,
# AddressSanitizer and UBSan into build/fuzz) and ends with "N passed, M failed" (one per target).
#   scripts/fuzz.sh                   every target for $FUZZ_SECONDS (default 20) seconds each
#   scripts/fuzz.sh <name> [seconds]  one target, e.g. scripts/fuzz.sh header 3600
# Seeds are test/fuzz/corpus/<name>/ (checked in, small); new inputs found go to
# build/fuzz/corpus/<name>/ (kept between local runs, not checked in). A crash, an invariant
# violation (FUZZ_CHECK), a sanitizer report, a leak or a 10 s input fails the target and
# leaves the input in build/fuzz/artifacts/: turn it into a unit test in test/core/.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
seconds=${FUZZ_SECONDS:-20}
if (($# > 0)); then
    targets=("$1")
    seconds=${2:-$seconds}
else
    targets=($(ls test/fuzz/*_fuzz.cpp | xargs -n1 basename | sed 's/_fuzz\.cpp$//'))
fi

if ! { CXX=clang++-14 cmake -S . -B build/fuzz -DEVENTHOOKS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
       cmake --build build/fuzz -j2 -- -s >/dev/null; }; then
    echo "fuzz: build failed"; echo "0 passed, 1 failed"; exit 1
fi

passed=0
failed=0
mkdir -p build/fuzz/artifacts
for t in "${targets[@]}"; do
    bin=build/fuzz/${t}_fuzz
    if [[ ! -x $bin ]]; then echo "$t: no such target ($bin)"; failed=$((failed + 1)); continue; fi
    mkdir -p "build/fuzz/corpus/$t"
    log=build/fuzz/$t.log
    # -max_len: the parsers' inputs are short SQL arguments and header values; 4 KB keeps the
    # search on their structure. -timeout: a single input taking 10 s is a bug (no parser loops).
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/${t}-" \
        "build/fuzz/corpus/$t" "test/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if ((rc == 0)); then
        printf '%-16s ok: %s runs in %ss, %s\n' "$t" "${runs:-?}" "$seconds" "${cov:-cov: ?}"
        passed=$((passed + 1))
    else
        printf '%-16s FAILED (exit %d), log %s:\n' "$t" "$rc" "$log"
        grep -E 'FUZZ_CHECK|ERROR:|runtime error|SUMMARY|Test unit written|terminate' "$log" | head -15
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
