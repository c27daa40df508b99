#!/usr/bin/env bash
# Builds and installs the extension into the PostgreSQL 15 found by pg_config (warnings are
# errors). Needs root for the install step.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
make -s -j2 WERROR=1 PG_CONFIG="$PG_CONFIG" >/dev/null
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
