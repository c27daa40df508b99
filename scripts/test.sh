#!/usr/bin/env bash
# Runs every test of pg_eventhooks and ends with "N passed, M failed":
#   1. unit tests of src/core (GoogleTest via CMake/ctest)
#   2. pg_regress tests (sql/, expected/) on a temporary instance
#   3. TAP tests (test/t/*.pl) with PostgreSQL::Test::Cluster
#   4. sanitize: the unit tests again under AddressSanitizer + UBSan (build/core-asan)
#   5. fuzz: each libFuzzer target of test/fuzz for $FUZZ_SECONDS (20) s (scripts/fuzz.sh)
#   6. lint: clang-tidy and cppcheck over src/ (scripts/lint.sh)
# Installs missing Debian packages and builds/installs the extension first. Run as root:
# the servers run as the "postgres" OS user in a scratch directory that user owns.
# Pass test names to run a subset: scripts/test.sh unit | regress [names] | tap [files] |
# sanitize | fuzz | lint
set -uo pipefail
export PATH="/usr/sbin:/sbin:$PATH"  # runuser lives in /usr/sbin; a plain PATH may lack it
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
pgbin=/usr/lib/postgresql/15/bin
pgxs=/usr/lib/postgresql/15/lib/pgxs
only=${1:-all}; shift || true

if [[ -z ${SKIP_BUILD:-} ]]; then
    bash scripts/install-deps.sh || exit 1
    bash scripts/build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
fi

passed=0
failed=0
failures=()
count() {  # count <passed> <failed> <label>
    passed=$((passed + $1)); failed=$((failed + $2))
    if (($2 > 0)); then failures+=("$3"); fi
}

# A scratch copy owned by postgres: the server refuses to run as root, and the checkout may
# not be writable by postgres.
work=$(mktemp -d /tmp/pg_eventhooks_test.XXXXXX)
cp -r sql expected test prometheus "$work"/
chown -R postgres: "$work"
trap 'if ((failed == 0)); then rm -rf "$work"; fi' EXIT
# The servers' locale and encoding must not depend on the caller's environment: a root shell on
# a fresh machine has no LANG, and initdb would then create SQL_ASCII clusters (payload tests
# need UTF8). C.UTF-8 is built into Debian's libc. Commands run from $work, which postgres can
# enter (the checkout may be in root's home).
as_postgres() { (cd "$work" && exec runuser -u postgres -- env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
    -u LANGUAGE LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$pgbin:/usr/bin:/bin" PYTHON=/usr/bin/python3 "$@"); }

if [[ $only == all || $only == unit ]]; then
    echo "== unit tests (src/core)"
    cmake -S . -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build/core -j2 >/dev/null || { count 0 1 "unit: build"; }
    if [[ -x build/core/core_tests ]]; then
        out=$(cd build/core && ctest --output-on-failure 2>&1)
        echo "$out" | grep -E "tests passed|Failed|\*\*\*" | tail -20
        total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')
        bad=$(echo "$out" | sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p')
        [[ -n $total ]] && count $((total - bad)) "$bad" "unit" || count 0 1 "unit: no result"
    fi
fi

if [[ $only == all || $only == regress ]]; then
    echo "== pg_regress"
    tests=("$@")
    if [[ $only == all || ${#tests[@]} -eq 0 ]]; then
        tests=($(ls sql/*.sql | grep -v 'pg_eventhooks--' | xargs -n1 basename | sed 's/\.sql$//'))
    fi
    out=$(cd "$work" && as_postgres "$pgxs/src/test/regress/pg_regress" --bindir="$pgbin" \
        --temp-instance="$work/regress_instance" --encoding=UTF8 --temp-config="$work/test/regress.conf" \
        --inputdir="$work" --outputdir="$work/regress" --port=$((50000 + RANDOM % 10000)) "${tests[@]}" 2>&1)
    echo "$out" | grep -E "^(test|ok|not ok|     | [0-9]|# )" | grep -v '^#' || echo "$out" | tail -20
    ok=$(echo "$out" | grep -cE '(\.\.\. ok|^ok )')
    bad=$(echo "$out" | grep -cE '(\.\.\. FAILED|^not ok |\.\.\. failed)')
    if ((ok + bad == 0)); then bad=1; echo "$out" | tail -20; fi
    count "$ok" "$bad" "regress (diffs: $work/regress/regression.diffs)"
fi

if [[ $only == all || $only == tap ]]; then
    echo "== TAP"
    files=("$@")
    if [[ $only == all || ${#files[@]} -eq 0 ]]; then files=($(cd "$work" && ls test/t/*.pl)); fi
    for f in "${files[@]}"; do
        out=$(cd "$work" && as_postgres TESTDIR="$work" PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
            timeout 900 prove -v -I "$pgxs/src/test/perl" -I test/perl "$f" 2>&1)
        rc=$?
        ok=$(echo "$out" | grep -cE '^ok [0-9]+')
        bad=$(echo "$out" | grep -cE '^not ok [0-9]+')
        if ((rc != 0 && bad == 0)); then bad=1; fi  # died without a failing assertion
        printf '%-40s %d passed, %d failed\n' "$f" "$ok" "$bad"
        if ((bad > 0)); then echo "$out" | grep -E '^not ok|^#|Dubious|died|Bail' | head -30; fi
        count "$ok" "$bad" "tap: $f (logs: $work/tmp_check/log)"
    done
fi

if [[ $only == all || $only == sanitize ]]; then
    echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (src/core)"
    # Every test is its own process (ctest), so a sanitizer report (which ends the process with
    # an error: -fno-sanitize-recover=all, halt_on_error) fails exactly the test that caused it;
    # leaks are reported when each test process exits.
    if ! { cmake -S . -B build/core-asan -DEVENTHOOKS_SANITIZE=ON >/dev/null &&
           cmake --build build/core-asan -j2 >/dev/null; }; then
        count 0 1 "sanitize: build"  # and no stale binary is run
    else
        out=$(cd build/core-asan && ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j2 --output-on-failure 2>&1)
        echo "$out" | grep -E "tests passed|Failed|\*\*\*|ERROR: |runtime error|SUMMARY" | tail -20
        total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')
        bad=$(echo "$out" | sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p')
        [[ -n $total ]] && count $((total - bad)) "$bad" "sanitize" || count 0 1 "sanitize: no result"
    fi
fi

# fuzz.sh and lint.sh end with "N passed, M failed" (one per fuzz target / per tool).
for step in fuzz lint; do
    if [[ $only == all || $only == "$step" ]]; then
        echo "== $step (scripts/$step.sh)"
        out=$(bash "scripts/$step.sh" 2>&1)
        echo "$out" | sed '$d'
        result=$(echo "$out" | tail -1)
        if [[ $result =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            count "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$step (scripts/$step.sh)"
        else
            count 0 1 "$step: no result"
        fi
    fi
done

if ((failed > 0)); then
    echo "Failures:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
