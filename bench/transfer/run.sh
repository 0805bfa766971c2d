#!/usr/bin/env bash
# Uploads over HTTPS on loopback, side by side in one run, on this machine:
#   - Haven: tus into the encrypted store (TLS, SHA-256, AES-256-GCM sealing, durable parts,
#     SQLite), the file PATCHed whole by curl (`-T`), through a drop-off link;
#   - nginx over TLS (the same certificate), `curl -T` with WebDAV PUT to a file on the same disk:
#     the same bytes with no processing, the ceiling;
#   - scp over loopback (OpenSSH, its default cipher), what a provider would otherwise use.
# curl speaks HTTP/1.1 to both servers (nginx is not set up for HTTP/2 here; and curl's HTTP/2
# upload sends twice the TLS records and burns three times the CPU, on the cores the servers share).
# One 4 GiB file, and 4 uploads of 1 GiB at once; Haven's peak memory (VmHWM) for a 1 GiB and
# a 4 GiB file, each on a fresh server. Every request's status is checked: a figure measured
# while requests failed is not reported. Needs nginx, openssh-server (apt) and ~20 GB of disk.
# The files to send live in /dev/shm when it has room (the client's disk reads then do not
# compete with the servers' writes). Each figure is the median of ROUNDS runs (default 3), the
# three servers taking turns, so that a slow moment of the disk does not land on one of them.
#
#   bench/transfer/run.sh            # prints a Markdown table for docs/benchmarks.md
#   ROUNDS=1 bench/transfer/run.sh   # quicker, noisier
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d /var/tmp/haven-bench.XXXXXX)
if [ "$(df --output=avail -B1 /dev/shm | tail -n 1)" -gt $((6 * 1024 * 1024 * 1024)) ]; then
  src=$(mktemp -d /dev/shm/haven-bench.XXXXXX)
else
  src=$work
fi
rounds=${ROUNDS:-3}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work" "$src"
}
trap cleanup EXIT

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_port() { for _ in $(seq 1 100); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null && return 0; sleep 0.2; done; return 1; }
# Each timing starts with nothing dirty waiting to be written (the test files, the last run).
now() { date +%s.%N; }
settle() { sync; sleep 2; }
mbps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])) / 1e6:.0f}')" "$@"; }
for tool in nginx sshd scp curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed (apt-get install nginx openssh-server curl)" >&2; exit 1; }
done

cargo build --release --quiet -p haven
haven=$root/target/release/haven
GiB=$((1024 * 1024 * 1024))
head -c $((4 * GiB)) /dev/urandom >"$src/4g.bin"
head -c $GiB "$src/4g.bin" >"$src/1g.bin"
median() { python3 -c "import statistics, sys; print(round(statistics.median(float(a) for a in sys.argv[1:])))" "$@"; }
failures=0

# --- Haven --------------------------------------------------------------------------------
# A fresh data directory and server; an asset, its IAO and an unlimited drop-off link.
start_haven() {
  rm -rf "$work/haven"
  local port
  port=$(free_port)
  HAVEN_METRICS__ENABLED=false HAVEN_LOG__LEVEL=warn "$haven" serve --data-dir "$work/haven" --listen "127.0.0.1:$port" \
    >"$work/haven.out" 2>"$work/haven.log" &
  haven_pid=$!
  pids+=("$haven_pid")
  wait_port "$port"
  haven_url="https://127.0.0.1:$port"
  local d=(--data-dir "$work/haven")
  "$haven" users add owen --email owen@example.org "${d[@]}" >/dev/null
  "$haven" users role owen staff "${d[@]}" >/dev/null
  "$haven" ig record owen data-security-awareness "$(date -u +%F)" "${d[@]}" >/dev/null
  "$haven" assets create bench --iao owen --ig-ref IG/00001 --classification identifiable "${d[@]}" >/dev/null
  link=$("$haven" transfer link create --asset bench --as owen --label bench "${d[@]}" | sed -n 1p)
  ca="$work/haven/tls/ca.pem"
}

# One file through the link, whole: create, then one PATCH. Fails the run on any non-2xx.
haven_upload() {
  local file=$1 size location
  size=$(stat -c %s "$file")
  location=$(curl -sS --cacert "$ca" -o /dev/null -D - -X POST "$link/uploads/" -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $size" -H "Upload-Metadata: filename $(printf bench.bin | base64)" |
    tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
  [ -n "$location" ] || { echo "bench: creation failed" >&2; return 1; }
  local code
  code=$(curl --http1.1 -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -X PATCH "$haven_url$location" -T "$file" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream')
  [ "$code" = 204 ] || { echo "bench: Haven answered $code" >&2; return 1; }
}

peak_kib() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
# CPU time (user + system, clock ticks) of processes and, for nginx, its workers: what the
# server itself spends, apart from the clients that share this machine's cores.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
cpu_per_gib() { python3 -c "import os, sys; print(f'{int(sys.argv[1]) / os.sysconf(\"SC_CLK_TCK\") / int(sys.argv[2]):.2f}')" "$@"; }

# Timings through `SEND FILE NAME` (each server's way of sending): one 4 GiB file, then four
# 1 GiB files at once; MB/s in `one_mbps` and `four_mbps`. A failed send is counted.
one_file() {
  local t0
  settle; t0=$(now)
  "$1" "$src/4g.bin" one.bin || failures=$((failures + 1))
  one_mbps=$(mbps $((4 * GiB)) "$t0" "$(now)")
}
four_at_once() {
  local t0 i job ups=()
  settle; t0=$(now)
  for i in 1 2 3 4; do "$1" "$src/1g.bin" "four-$i.bin" & ups+=($!); done
  for job in "${ups[@]}"; do wait "$job" || failures=$((failures + 1)); done
  four_mbps=$(mbps $((4 * GiB)) "$t0" "$(now)")
}

# One round: a 4 GiB file, then four 1 GiB files at once, on a fresh server.
haven_round() {
  start_haven
  local c0
  c0=$(ticks "$haven_pid")
  one_file haven_upload
  haven_one+=("$one_mbps")
  haven_cpu+=("$(cpu_per_gib $(($(ticks "$haven_pid") - c0)) 4)")
  haven_peak_4g=$(peak_kib "$haven_pid")
  four_at_once haven_upload
  haven_four+=("$four_mbps")
  haven_errors=$((haven_errors + $(grep -c -E ' (ERROR|WARN) ' "$work/haven.log" || true)))
  kill "$haven_pid"; wait "$haven_pid" 2>/dev/null || true
}
haven_one=() haven_four=() haven_cpu=() haven_errors=0

# --- nginx over TLS, WebDAV PUT to disk -----------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx.conf" <<EOF
user root;
daemon on;
pid $work/nginx.pid;
worker_processes 2;
error_log $work/nginx-error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/haven/tls/server.pem;
    ssl_certificate_key $work/haven/tls/server.key;
    client_max_body_size 0;
    location / { root $work/nginx/put; dav_methods PUT; create_full_put_path on; }
  }
}
EOF
nginx_put() {
  local code
  code=$(curl --http1.1 -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -T "$1" "https://127.0.0.1:$nginx_port/$2")
  case "$code" in 201 | 204) ;; *) echo "bench: nginx answered $code" >&2; return 1 ;; esac
}
nginx_round() {
  mkdir -p "$work/nginx/put"
  nginx -c "$work/nginx.conf" -e "$work/nginx-error.log"
  wait_port "$nginx_port"
  local workers c0
  workers=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')
  # shellcheck disable=SC2086 # one argument a worker
  c0=$(ticks $workers)
  one_file nginx_put
  nginx_one+=("$one_mbps")
  # shellcheck disable=SC2086
  nginx_cpu+=("$(cpu_per_gib $(($(ticks $workers) - c0)) 4)")
  rm -f "$work/nginx/put/one.bin"
  four_at_once nginx_put
  nginx_four+=("$four_mbps")
  kill "$(cat "$work/nginx.pid")"; rm -f "$work/nginx.pid"; rm -rf "$work/nginx/put"
  sleep 0.5
}
nginx_one=() nginx_four=() nginx_cpu=()

# --- scp over loopback --------------------------------------------------------------------
ssh_port=$(free_port)
mkdir -p "$work/ssh" "$work/scp"
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host" && ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/user"
cp "$work/ssh/user.pub" "$work/ssh/authorized_keys"
mkdir -p /run/sshd
/usr/sbin/sshd -D -p "$ssh_port" -h "$work/ssh/host" -o ListenAddress=127.0.0.1 \
  -o AuthorizedKeysFile="$work/ssh/authorized_keys" -o PasswordAuthentication=no -o StrictModes=no \
  -o PidFile="$work/sshd.pid" &
pids+=($!)
wait_port "$ssh_port"
scp_to() {
  scp -q -P "$ssh_port" -i "$work/ssh/user" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    "$1" "root@127.0.0.1:$work/scp/$2"
}
scp_round() {
  one_file scp_to
  scp_one+=("$one_mbps")
  rm -f "$work/scp/one.bin"
  four_at_once scp_to
  scp_four+=("$four_mbps")
  rm -f "$work/scp/"*.bin
}
scp_one=() scp_four=()

# --- the rounds, the servers taking turns ------------------------------------------------
for round in $(seq 1 "$rounds"); do
  haven_round
  nginx_round
  scp_round
  echo "bench: round $round: Haven ${haven_one[-1]}/${haven_four[-1]}, nginx ${nginx_one[-1]}/${nginx_four[-1]}, scp ${scp_one[-1]}/${scp_four[-1]} MB/s (one/four); CPU s/GiB Haven ${haven_cpu[-1]}, nginx ${nginx_cpu[-1]}" >&2
done
# Peak memory: a 1 GiB upload on a fresh server (the 4 GiB figure is from the last round).
start_haven
haven_upload "$src/1g.bin" || failures=$((failures + 1))
haven_peak_1g=$(peak_kib "$haven_pid")
kill "$haven_pid"; wait "$haven_pid" 2>/dev/null || true
haven_one=$(median "${haven_one[@]}") haven_four=$(median "${haven_four[@]}")
nginx_one=$(median "${nginx_one[@]}") nginx_four=$(median "${nginx_four[@]}")
cpu() { python3 -c "import statistics, sys; print(f'{statistics.median(float(a) for a in sys.argv[1:]):.2f}')" "$@"; }
haven_cpu=$(cpu "${haven_cpu[@]}") nginx_cpu=$(cpu "${nginx_cpu[@]}")
scp_one=$(median "${scp_one[@]}") scp_four=$(median "${scp_four[@]}")


if [ "$failures" -gt 0 ]; then
  echo "bench: $failures upload(s) failed; no figures reported" >&2
  exit 1
fi
pct() { python3 -c "import sys; print(f'{100 * float(sys.argv[1]) / float(sys.argv[2]):.0f} %')" "$@"; }
times() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}×')" "$@"; }
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo
echo "| upload (MB/s, MB = 10^6 bytes) | Haven (tus, sealed, SQLite) | nginx TLS PUT (ceiling) | scp | Haven / nginx | Haven / scp |"
echo "|---|---|---|---|---|---|"
echo "| one 4 GiB file | $haven_one | $nginx_one | $scp_one | $(pct "$haven_one" "$nginx_one") | $(times "$haven_one" "$scp_one") |"
echo "| four 1 GiB files at once | $haven_four | $nginx_four | $scp_four | $(pct "$haven_four" "$nginx_four") | $(times "$haven_four" "$scp_four") |"
echo
echo "Server CPU time per GiB of the 4 GiB upload (user + system, medians): Haven $haven_cpu s, nginx $nginx_cpu s."
echo "Haven's peak memory (VmHWM): $((haven_peak_1g / 1024)) MiB after a 1 GiB upload, $((haven_peak_4g / 1024)) MiB after a 4 GiB one (fresh servers). Failed requests: 0; warnings and errors Haven logged: $haven_errors ($rounds rounds; medians)."
