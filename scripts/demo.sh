#!/usr/bin/env bash
# The demo of README.md: builds and installs pg_eventhooks, starts a throwaway PostgreSQL 15
# cluster (as the postgres OS user, library preloaded) and the test webhook receiver, creates
# a table with an event trigger, inserts, updates and deletes rows, and shows the webhooks the
# receiver got. Stops everything it started. Run as root on Debian 12.
set -euo pipefail
export PATH="/usr/sbin:/sbin:$PATH"  # runuser lives in /usr/sbin; a plain PATH may lack it
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
pgbin=/usr/lib/postgresql/15/bin

bash scripts/install-deps.sh
bash scripts/build.sh

work=$(mktemp -d /tmp/pg_eventhooks_demo.XXXXXX)
chown postgres: "$work"
port=$((55000 + RANDOM % 5000))
# As postgres, from a directory postgres may enter (the checkout may be in root's home), with a
# fixed locale (a fresh root shell has no LANG; the cluster must be UTF8 whatever the caller's).
as_postgres() { (cd "$work" && exec runuser -u postgres -- env -u http_proxy -u https_proxy -u LANGUAGE \
    LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"); }
receiver_pid=
cleanup() {
    [[ -n $receiver_pid ]] && kill "$receiver_pid" 2>/dev/null || true
    as_postgres "$pgbin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting PostgreSQL 15 in $work (port $port) with shared_preload_libraries = 'pg_eventhooks'"
as_postgres "$pgbin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
cat >>"$work/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$work'
listen_addresses = ''
shared_preload_libraries = 'pg_eventhooks'
CONF
as_postgres "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null

echo "== starting the test webhook receiver on 127.0.0.1"
cp test/receiver/receiver.py "$work/" && chown postgres: "$work/receiver.py"
as_postgres /usr/bin/python3 "$work/receiver.py" --port 0 --port-file "$work/receiver.port" --quiet --watch-pid $$ &
receiver_pid=$!
for _ in $(seq 100); do [[ -s $work/receiver.port ]] && break; sleep 0.1; done
hook_port=$(cat "$work/receiver.port")

# -P pager=off: the demo never stops at a pager in a terminal.
psql() { as_postgres "$pgbin/psql" -X -q -P pager=off -h "$work" -p "$port" -U postgres -d postgres "$@"; }
echo "== SQL"
psql -e -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pg_eventhooks;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, amount numeric(10,2), status text);
SELECT eventhooks.create_event_trigger(
    name      => 'order_events',
    table_name => 'orders',
    webhook   => 'http://127.0.0.1:$hook_port/webhooks/orders',
    on_insert => '{}',
    on_update => '{"columns": ["status"]}',
    on_delete => '{"payload": ["id"]}',
    headers   => '[{"name": "X-Shop", "value": "demo"}]',
    retry_conf => '{"num_retries": 3, "interval_sec": 2}');
INSERT INTO orders (customer, amount, status) VALUES ('ada', 12.50, 'new'), ('grace', 99.00, 'new');
UPDATE orders SET status = 'paid' WHERE customer = 'ada';
DELETE FROM orders WHERE customer = 'grace';
SQL

echo "== waiting for the webhooks"
for _ in $(seq 100); do
    n=$(curl -s "http://127.0.0.1:$hook_port/_control/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [[ $n -ge 4 ]] && break
    sleep 0.1
done

echo "== webhooks the receiver got"
curl -s "http://127.0.0.1:$hook_port/_control/requests" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    h = r["headers"]
    print(r["method"], r["path"], " user-agent:", h.get("user-agent"),
          " webhook-id:", h.get("webhook-id"), " x-shop:", h.get("x-shop"))
    print(json.dumps(json.loads(r["body"]), indent=2))
'
echo "== eventhooks.event_log"
psql -c "SELECT trigger_name, payload->>'op' AS op, delivered, tries FROM eventhooks.event_log ORDER BY id"
psql -c "SELECT * FROM eventhooks.worker_status"
echo "== done; stopping the server and the receiver"
