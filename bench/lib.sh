# shellcheck shell=bash
# Shared helpers of the benchmark scripts (sourced, not run): a throwaway PostgreSQL 15 cluster
# owned by the postgres OS user in a temp dir, an nginx receiver on 127.0.0.1, and small
# statistics helpers. Every script calls bench_cleanup from its EXIT trap.

pgbin=/usr/lib/postgresql/15/bin   # replaced by the run's private copy (snapshot_installation)
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$bench_dir/.." && pwd)

work=""          # temp dir of this run (cluster, sockets, logs)
pg_port=""
nginx_pid_file=""
declare -a bench_pids=()   # background processes this script started (killed by their pid)

as_postgres() { runuser -u postgres -- env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY "$@"; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bench_require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "run as root (the cluster runs as the postgres OS user via runuser)" >&2
        exit 1
    fi
}

# make_work NAME: creates the run's temp dir, owned by postgres, and a private copy of the
# PostgreSQL 15 installation (with pg_eventhooks as installed now) that the run uses.
make_work() {
    work=$(mktemp -d "/tmp/pg_eventhooks_bench_$1.XXXXXX")
    chmod 755 "$work"
    chown postgres: "$work"
    snapshot_installation
}

# The checkout is shared: someone may `make install` a new build in the middle of a run, and
# every new backend would load it. So the run uses a copy of the installation taken now.
# PostgreSQL finds its lib and share dirs relative to the postgres binary, so a copy of
# /usr/lib/postgresql/15 and /usr/share/postgresql/15 under one prefix is a working install.
snapshot_installation() {
    local before after
    for _ in 1 2 3; do
        before=$(so_fingerprint)
        rm -rf "$work/pg"
        mkdir -p "$work/pg/lib/postgresql" "$work/pg/share/postgresql"
        cp -a /usr/lib/postgresql/15 "$work/pg/lib/postgresql/"
        cp -a /usr/share/postgresql/15 "$work/pg/share/postgresql/"
        after=$(so_fingerprint)
        [[ $before == "$after" ]] && break
    done
    pgbin=$work/pg/lib/postgresql/15/bin
    so_at_start=$(md5sum "$work/pg/lib/postgresql/15/lib/pg_eventhooks.so" | cut -c1-12)
    so_built=$(date -u -r "$so_path" '+%Y-%m-%d %H:%M:%S UTC')
}

# start_cluster PRELOAD(0|1) [extra postgresql.conf lines...]: initdb + start on a free port,
# unix socket in $work only (no TCP listener at all).
start_cluster() {
    local preload=$1
    shift
    pg_port=$((40000 + RANDOM % 10000))
    while ss -ltn 2>/dev/null | grep -q ":$pg_port "; do pg_port=$((40000 + RANDOM % 10000)); done
    as_postgres "$pgbin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "port = $pg_port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$work'"
        echo "fsync = on"
        echo "synchronous_commit = on"
        echo "shared_buffers = 1GB"
        echo "max_wal_size = 16GB"
        echo "checkpoint_timeout = 1h"
        echo "max_connections = 60"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] %b '"
        if [[ $preload == 1 ]]; then echo "shared_preload_libraries = 'pg_eventhooks'"; fi
        for line in "$@"; do echo "$line"; done
    } >>"$work/data/postgresql.conf"
    as_postgres "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 start >/dev/null
}

stop_cluster() {
    if [[ -n $work && -f $work/data/postmaster.pid ]]; then
        as_postgres "$pgbin/pg_ctl" -D "$work/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_postgres "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    fi
}

# psql against the run's cluster; -At output, stops on the first error.
sql() { as_postgres "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$pg_port" -U postgres -d postgres "$@"; }

pgbench() { as_postgres "$pgbin/pgbench" -h "$work" -p "$pg_port" -U postgres "$@"; }

# start_nginx WORKERS LOG_FORMAT_LINE: nginx on a free 127.0.0.1 port answering 200 to
# everything; /wrk is never logged, other paths go to $work/nginx/access.log (buffered).
# Sets nginx_port.
start_nginx() {
    local workers=$1
    local dir=$work/nginx
    mkdir -p "$dir/logs" "$dir/tmp"
    nginx_port=$((30000 + RANDOM % 10000))
    while ss -ltn 2>/dev/null | grep -q ":$nginx_port "; do nginx_port=$((30000 + RANDOM % 10000)); done
    cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1000; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_buffer_size 64k;
    log_format hook '\$msec \$status \$content_length \$uri \$http_webhook_id';
    server {
        listen 127.0.0.1:$nginx_port;
        location /wrk { return 200 '{"ok":true}'; }
        location / {
            access_log $dir/logs/access.log hook buffer=256k flush=100ms;
            return 200 '{"ok":true}';
        }
    }
}
CONF
    chown -R postgres: "$dir"
    nginx_pid_file=$dir/nginx.pid
    # Not root: nginx runs as the postgres OS user, everything in $dir.
    as_postgres nginx -e "$dir/logs/error.log" -c "$dir/nginx.conf" -p "$dir/"
    for _ in $(seq 50); do [[ -s $nginx_pid_file ]] && break; sleep 0.1; done
    curl -s -o /dev/null --noproxy '*' -X POST -d '{}' "http://127.0.0.1:$nginx_port/wrk"
}

stop_nginx() {
    if [[ -n $nginx_pid_file && -s $nginx_pid_file ]]; then
        local pid
        pid=$(cat "$nginx_pid_file")
        kill -QUIT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        nginx_pid_file=""
    fi
}

bench_cleanup() {
    local pid
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    stop_nginx
    stop_cluster
    if [[ -n $work && -z ${KEEP_WORK:-} ]]; then rm -rf "$work"; fi
}

now() { date +%s.%N; }
# since T: seconds from the unix time T (as now prints it) until now, 3 decimals
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

# wait_delivery_worker: waits (up to 10 s) for the delivery worker of database postgres and sets
# worker_pid; exits the script with the server log's tail if none starts.
wait_delivery_worker() {
    worker_pid=""
    for _ in $(seq 100); do
        worker_pid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventhooks delivery' AND datname = 'postgres'")
        [[ -n $worker_pid ]] && break
        sleep 0.1
    done
    [[ -n $worker_pid ]] || { echo "no delivery worker started" >&2; tail "$work/server.log" >&2; exit 1; }
}

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B -> A/B with 2 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a / b}'; }

so_path=/usr/lib/postgresql/15/lib/pg_eventhooks.so
so_fingerprint() { echo "$(md5sum "$so_path" | cut -c1-12) built $(date -u -r "$so_path" '+%Y-%m-%d %H:%M:%S UTC')"; }

# build_line: which extension build is measured: the copy taken by snapshot_installation.
build_line() {
    echo "build: pg_eventhooks.so md5 $so_at_start, installed $so_built (a private copy of the installation is used);"
    echo "       checkout at start: $(git -C "$repo_dir" log -1 --format='%h %ci %s' | cut -c1-100)"
}
bench_check_build() {
    if [[ $(so_fingerprint | cut -c1-12) != "$so_at_start" ]]; then
        echo "note: $so_path was rebuilt during the run (now $(so_fingerprint)); this run used its copy of the earlier build"
    fi
}

machine_line() {
    printf 'machine: %s cores, %s, %s GiB RAM, %s; load average before: %s\n' "$(nproc)" \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
        "$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)" \
        "$("$pgbin/postgres" --version)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# The four ways of recording an insert event that bench/enqueue.sh and bench/profile.sh
# compare, each on its own table of the same shape (5 columns, bigserial primary key):
# bench_a no trigger, bench_b pg_eventhooks, bench_c Hasura-style PL/pgSQL, bench_d PgQ.
# Also writes $work/insert_X.sql, the pgbench script of one single-row INSERT.
create_enqueue_configs() {
    local c columns="id bigserial PRIMARY KEY, customer_id int NOT NULL, name text NOT NULL,
        amount numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp()"
    sql -c "CREATE EXTENSION pg_eventhooks" 2>/dev/null
    sql <<SQL
CREATE EXTENSION pgq;
CREATE TABLE bench_a ($columns);
CREATE TABLE bench_b ($columns);
CREATE TABLE bench_c ($columns);
CREATE TABLE bench_d ($columns);

-- (b): the webhook points at a closed port; no worker runs, so nothing is ever sent.
SELECT eventhooks.create_event_trigger('bench_b_events', 'bench_b',
    webhook => 'http://127.0.0.1:9/closed', on_insert => '{}');

-- (c): what Hasura's generated trigger does (hdb_catalog.notify_hasura_* calling
-- insert_event_log), folded into one PL/pgSQL function; id from the column default.
CREATE FUNCTION bench_c_notify() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
    payload json;
BEGIN
    payload := json_build_object(
        'op', TG_OP,
        'data', json_build_object('old', NULL, 'new', row_to_json(NEW)),
        'session_variables', NULLIF(current_setting('hasura.user', true), '')::json);
    INSERT INTO eventhooks.event_log (schema_name, table_name, trigger_name, payload)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, 'bench_c_events', payload);
    RETURN NULL;
END
\$\$;
CREATE TRIGGER bench_c_events AFTER INSERT ON bench_c FOR EACH ROW EXECUTE FUNCTION bench_c_notify();

-- (d): PgQ.
SELECT FROM pgq.create_queue('bench_q');
CREATE TRIGGER bench_d_pgq AFTER INSERT ON bench_d FOR EACH ROW EXECUTE PROCEDURE pgq.logutriga('bench_q');
SQL
    for c in a b c d; do
        cat >"$work/insert_$c.sql" <<SQL
\set k random(1, 1000000)
INSERT INTO bench_$c (customer_id, name, amount) VALUES (:k, 'customer ' || :k::text, :k * 0.01);
SQL
    done
    chown postgres: "$work"/insert_*.sql
}

# measure_nginx_capacity SIZE URL SECONDS: nginx's raw capacity for POSTs of SIZE bytes (a body
# shaped like our webhook body, padded), wrk -t2 -c100 with keep-alive; prints wrk's figures
# and sets raw_rps.
measure_nginx_capacity() {
    local size=$1 url=$2 seconds=$3
    python3 - "$size" >"$work/body.json" <<'PY'
import json, sys
size = int(sys.argv[1])
body = {"event": {"session_variables": None, "op": "INSERT", "data": {"old": None, "new": {
    "id": 123456, "name": "customer 123456", "amount": 1234.56, "created_at": "2025-01-01T00:00:00.000000+00:00",
    "customer_id": 123456}}}, "created_at": "2025-01-01T00:00:00.000000Z",
    "id": "01900000-0000-7000-8000-000000000000", "delivery_info": {"max_retries": 0, "current_retry": 0},
    "trigger": {"name": "drain_events"}, "table": {"schema": "public", "name": "bench_drain"}}
body["pad"] = ""
pad = size - len(json.dumps(body, separators=(",", ":")))
body["pad"] = "x" * max(pad, 0)
sys.stdout.write(json.dumps(body, separators=(",", ":")))
PY
    cat >"$work/post.lua" <<LUA
local f = io.open("$work/body.json", "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "pg_eventhooks/bench"
wrk.headers["webhook-id"] = "01900000-0000-7000-8000-000000000000"
LUA
    echo "wrk body: $(wc -c <"$work/body.json") bytes"
    wrk_out=$(wrk -t2 -c100 -d"${seconds}s" --latency -s "$work/post.lua" "$url" 2>&1)
    echo "$wrk_out" | grep -E 'Requests/sec|Latency |50%|99%|requests in|Non-2xx|Socket errors' | sed 's/^/    /'
    raw_rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$wrk_out")
}
