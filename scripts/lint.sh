#!/usr/bin/env bash
# Static analysis of src/ with the checked-in configuration; ends with "N passed, M failed"
# (one per tool) and exits non-zero on any finding.
#   clang-tidy: checks and the reason for each disabled one in .clang-tidy. src/pg is analyzed
#     with the Postgres server headers (pg_config --includedir-server) and the Makefile's
#     warning flags; the compile commands are written to build/lint/compile_commands.json.
#   cppcheck: options below, suppressions with reasons in scripts/cppcheck-suppressions.txt
#     (and inline "cppcheck-suppress" comments). It is given our headers only, not the system's
#     or Postgres's: it analyzes our code, clang-tidy sees everything with the real headers.
# Findings are fixed in the code, or suppressed in place (NOLINT / cppcheck-suppress) with a
# reason when the code is right.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
passed=0
failed=0

mkdir -p build/lint
python3 - "$("$pg_config" --includedir-server)" \
    "$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_eventhooks.control)" <<'PY'
import glob, json, os, sys
pg_include, version = sys.argv[1], sys.argv[2]
root = os.getcwd()
commands = []
for f in sorted(glob.glob("src/core/*.cpp") + glob.glob("src/pg/**/*.cpp", recursive=True)):
    # The Makefile's flags: Postgres headers use "register" and unused parameters.
    args = ["clang++", "-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
            "-Wno-unused-parameter", "-Wno-register", "-I" + root + "/src",
            '-DEVENTHOOKS_VERSION="%s"' % version]
    if f.startswith("src/pg/"):
        args.append("-I" + pg_include)
    commands.append({"directory": root, "file": os.path.join(root, f),
                     "arguments": args + ["-c", os.path.join(root, f)]})
with open("build/lint/compile_commands.json", "w") as out:
    json.dump(commands, out, indent=1)
PY

echo "-- clang-tidy"
if run-clang-tidy-14 -p build/lint -quiet -j2 "$repo/src/" >build/lint/clang-tidy.log 2>&1 &&
   ! grep -qE '(warning|error):' build/lint/clang-tidy.log; then
    echo "clang-tidy: clean ($(grep -c '"file"' build/lint/compile_commands.json) files)"
    passed=$((passed + 1))
else
    grep -E -A3 '(warning|error):' build/lint/clang-tidy.log | sed 's/\x1b\[[0-9;]*m//g' | head -60
    echo "clang-tidy: findings above (full log: build/lint/clang-tidy.log)"
    failed=$((failed + 1))
fi

echo "-- cppcheck"
# warning, performance, portability: defects and real costs; "style" is left out (naming and
# scoping opinions). --inline-suppr allows in-place suppressions with a reason.
if cppcheck --quiet --std=c++17 --language=c++ --enable=warning,performance,portability \
        --inline-suppr --suppressions-list=scripts/cppcheck-suppressions.txt --error-exitcode=1 \
        -j2 -Isrc src/core src/pg >build/lint/cppcheck.log 2>&1; then
    echo "cppcheck: clean"
    passed=$((passed + 1))
else
    head -60 build/lint/cppcheck.log
    echo "cppcheck: findings above"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
((failed == 0))
