#!/usr/bin/env bash
# Several nodes on one machine, in one run (docs/benchmarks.md, issue 16), four ways: one node on
# SQLite (the embedded default) reached directly, and on PostgreSQL one node reached directly, one
# node behind nginx, two nodes behind nginx (round robin). The PostgreSQL ways each use a new
# database (HAVEN_BENCH_POSTGRES_URL, default the local server), the nodes sharing one key
# directory and one blob directory (file://, as an NFS mount would be):
#   - the package index: wrk on /pypi/simple/bench-07/ with a repository token, three 6 s rounds
#     back to back (2 threads, 32 connections), failed requests and logged warnings counted;
#   - uploads: one 1 GiB file through a drop-off link (tus create + one PATCH, curl), MB/s.
# A figure measured while requests failed is not a figure: the run exits non-zero then.
#
#   bench/cluster/run.sh            # prints a Markdown table for docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d /var/tmp/haven-cluster.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_port() { for _ in $(seq 1 150); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null && return 0; sleep 0.2; done; return 1; }
for tool in wrk nginx curl psql; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed (apt-get install wrk nginx curl postgresql-client)" >&2; exit 1; }
done
pg=${HAVEN_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --quiet -p haven
haven=$root/target/release/haven
names=$(python3 bench/packages/fixture.py "$work/fx")
up=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$up" --directory "$work/fx" >/dev/null 2>&1 &
pids+=($!)
wait_port "$up"
GiB=$((1024 * 1024 * 1024))
head -c $GiB /dev/urandom >"$work/1g.bin"
failures=0

# Nodes for a way: $1 of them (1 or 2), on a new PostgreSQL database (or SQLite in the data
# directory when $2 is "sqlite"); sets $nodes (their ports), $ca, $cfg_a.
start_nodes() {
  local count=$1 db="haven_bench_$$_$RANDOM" n port database=""
  if [ "${2:-}" != sqlite ]; then
    psql -q "$pg" -c "CREATE DATABASE $db" >/dev/null
    database=$(printf '[database]\nurl = "%s"' "${pg%/*}/$db")
  fi
  rm -rf "$work/keys" "$work/blobs" && mkdir -p "$work/keys" "$work/blobs"
  nodes=()
  way_pids=()
  for n in $(seq 1 "$count"); do
    port=$(free_port)
    cat >"$work/node$n.toml" <<TOML
public_url = "https://127.0.0.1:$lb_port"
$database
[blobs]
url = "file://$work/blobs"
[keys]
master_key_file = "$work/keys/master.key"
audit_key_file = "$work/keys/audit.key"
[http]
trusted_proxies = ["127.0.0.1"]
[cluster]
node = "n$n"
[log]
level = "warn"
[metrics]
enabled = false
[packages.pypi]
upstream = "http://127.0.0.1:$up/simple/"
min_age_days = 0
TOML
    if [ "$n" -gt 1 ]; then
      printf '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' "$work/n1/tls/server.pem" "$work/n1/tls/server.key" >>"$work/node$n.toml"
    fi
    rm -rf "$work/n$n"
    HAVEN_HTTP__SESSIONS_LISTEN=127.0.0.1:0 "$haven" serve --config "$work/node$n.toml" --data-dir "$work/n$n" \
      --listen "127.0.0.1:$port" >"$work/n$n.out" 2>"$work/n$n.log" &
    pids+=($!)
    way_pids+=($!)
    # Listening comes first; ready once it printed its banner (keys made, migrations run).
    for _ in $(seq 1 300); do grep -q "Press Ctrl-C" "$work/n$n.out" 2>/dev/null && break; sleep 0.2; done
    grep -q "Press Ctrl-C" "$work/n$n.out" || { cat "$work/n$n.log" >&2; exit 1; }
    nodes+=("$port")
  done
  cfg_a=(--config "$work/node1.toml" --data-dir "$work/n1")
  ca="$work/n1/tls/ca.pem"
}
stop_nodes() { for p in "${way_pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; }

# nginx in front of $nodes on $lb_port (the test harness's configuration, trimmed).
start_nginx() {
  mkdir -p "$work/nginx"
  local servers="" p
  for p in "${nodes[@]}"; do servers="$servers    server 127.0.0.1:$p;"$'\n'; done
  cat >"$work/nginx/nginx.conf" <<CONF
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  upstream haven {
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$lb_port ssl;
    ssl_certificate $work/n1/tls/server.pem;
    ssl_certificate_key $work/n1/tls/server.key;
    client_max_body_size 0; proxy_request_buffering off; proxy_buffering off;
    location / {
      proxy_pass https://haven;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $ca; proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>>"$work/nginx/error.log" &
  pids+=($!)
  way_pids+=($!)
  wait_port "$lb_port"
}

accept='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01'
log_problems() { cat "$@" 2>/dev/null | grep -iE 'warn|error' | grep -vc 'Illegal SNI extension' || true; }
# "req/s p50 p99 failed logged" for the index at base URL $1.
index_load() {
  local url="$1/pypi/simple/bench-07/" failed=0 round n s before
  curl -sf -o /dev/null --cacert "$ca" -H "Accept: $accept" -H "$auth" "$url" || { echo "bench: $url does not answer" >&2; return 1; }
  before=$(log_problems "$work"/n*.log "$work/nginx/error.log")
  for round in 1 2 3; do
    wrk -t2 -c32 -d6s --latency -H "Accept: $accept" -H "$auth" "$url" >"$work/wrk.txt"
    n=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
    s=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.txt")
    failed=$((failed + ${n:-0} + ${s:-0}))
  done
  local logged=$(( $(log_problems "$work"/n*.log "$work/nginx/error.log") - before ))
  echo "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") $(awk '$1 == "50%" {print $2}' "$work/wrk.txt") $(awk '$1 == "99%" {print $2}' "$work/wrk.txt") $failed $logged"
}
# MB/s of one 1 GiB upload through a drop-off link at base URL $1.
upload() {
  local base=$1 link location code t0 t1
  link=$("$haven" transfer link create --asset bench --as owen --label bench "${cfg_a[@]}" | sed -n 1p)
  link=${link/https:\/\/127.0.0.1:$lb_port/$base}
  location=$(curl -sS --cacert "$ca" -o /dev/null -D - -X POST "$link/uploads/" -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $GiB" -H "Upload-Metadata: filename $(printf bench.bin | base64)" |
    tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
  [ -n "$location" ] || { echo "bench: creation failed" >&2; failures=$((failures + 1)); echo 0; return; }
  sync; sleep 1
  t0=$(date +%s.%N)
  code=$(curl --http1.1 -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -X PATCH "$base$location" -T "$work/1g.bin" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream')
  t1=$(date +%s.%N)
  [ "$code" = 204 ] || { echo "bench: upload answered $code" >&2; failures=$((failures + 1)); }
  python3 -c "import sys; print(f'{$GiB / ($t1 - $t0) / 1e6:.0f}')"
}

rows=()
for way in sqlite-direct direct one-behind-nginx two-behind-nginx; do
  lb_port=$(free_port)
  count=1; [ "$way" = two-behind-nginx ] && count=2
  kind=postgres; [ "$way" = sqlite-direct ] && kind=sqlite
  start_nodes "$count" "$kind"
  "$haven" users add bench --email bench@example.org "${cfg_a[@]}" >/dev/null
  token=$("$haven" packages token bench --label bench "${cfg_a[@]}" | tail -n 1 | tr -d ' ')
  for n in $names; do "$haven" packages allow pypi "$n" "${cfg_a[@]}" >/dev/null; done
  auth="Authorization: Basic $(printf 'bench:%s' "$token" | base64 -w0)"
  "$haven" users add owen --email owen@example.org "${cfg_a[@]}" >/dev/null
  "$haven" users role owen staff "${cfg_a[@]}" >/dev/null
  "$haven" ig record owen data-security-awareness "$(date -u +%F)" "${cfg_a[@]}" >/dev/null
  "$haven" assets create bench --iao owen --ig-ref IG/00001 --classification identifiable "${cfg_a[@]}" >/dev/null
  if [ "${way#*-}" = direct ]; then base="https://127.0.0.1:${nodes[0]}"; else start_nginx; base="https://127.0.0.1:$lb_port"; fi
  read -r rps p50 p99 failed logged < <(index_load "$base")
  failures=$((failures + failed + logged))
  mbps=$(upload "$base")
  rows+=("| $way | $rps | $p50 | $p99 | $failed | $logged | $mbps |")
  stop_nodes
done

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "Machine: $(nproc) vCPU ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB; $(date -u +%Y-%m-%d); Haven $(git describe --always --dirty)"
echo
echo "| way | index req/s | p50 | p99 | failed requests | warnings/errors logged | upload 1 GiB (MB/s) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$failures" -ne 0 ]; then echo "bench: $failures failures; these figures do not count" >&2; exit 1; fi
