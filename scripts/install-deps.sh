#!/usr/bin/env bash
# Installs the Debian packages pg_eventhooks needs to build and test (and, with --bench, to
# run the benchmarks). Does nothing when they are all present. Needs root.
set -euo pipefail

packages=(g++ make cmake pkg-config python3 curl perl
          postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev libssl-dev
          nlohmann-json3-dev libgtest-dev libipc-run-perl ca-certificates
          clang-14 libclang-rt-14-dev clang-tidy-14 cppcheck prometheus-postgres-exporter)
# clang-14 and libclang-rt-14-dev (libFuzzer, and the sanitizer runtimes for clang: a
# recommendation of clang-14 only) build the fuzz targets; clang-tidy-14 (run-clang-tidy-14) and
# cppcheck are scripts/lint.sh's tools. prometheus-postgres-exporter: test/t/104_prometheus.pl
# runs it with prometheus/eventhooks_queries.yaml. The g++ sanitizer runtimes come with g++ (libasan8).
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(postgresql-15-pgq3 nginx-light wrk linux-perf valgrind)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a default cluster on port 5432; our tests and demo use their own.
# Debian's exporter package enables a service that scrapes the default cluster on :9187; the
# tests start their own exporter, so a service this script brought in is stopped again.
if [[ " ${missing[*]} " == *" prometheus-postgres-exporter "* ]] &&
    [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus-postgres-exporter >/dev/null 2>&1 || true
    echo "install-deps: disabled the prometheus-postgres-exporter service (the tests run their own)"
fi
