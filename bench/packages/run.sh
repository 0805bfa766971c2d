#!/usr/bin/env bash
# Haven's PyPI proxy side by side with devpi-server and pypiserver (both from PyPI), on one
# machine, in one run, on the same 20-package fixture (fixture.py):
#   - index requests/s and latency percentiles for one project page (wrk, 2 threads, 32
#     connections, three 6 s rounds, pip's Accept header), caches warm, with the failed requests
#     (non-2xx, socket errors) and the warnings and errors each server logged meanwhile;
#   - a cold and a warm `pip install` of the whole closure (bench-00 needs the 19 others), the
#     median of 5 each (cold: a fresh server, empty cache, per install).
# Haven and devpi proxy a static PEP 503 upstream (python -m http.server); pypiserver serves the
# wheels from disk (it is not a proxy, so it has no cold state). Haven speaks HTTPS with a
# repository token on every request (as deployed); the others plain HTTP without auth.
#
#   bench/packages/run.sh            # prints a Markdown table for docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_port() { for _ in $(seq 1 100); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null && return 0; sleep 0.2; done; return 1; }
command -v wrk >/dev/null || { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
command -v stunnel >/dev/null || { echo "bench: stunnel is needed (apt-get install stunnel4)" >&2; exit 1; }

venv=target/bench-tools/venv
if [ ! -x "$venv/bin/devpi-server" ] || [ ! -x "$venv/bin/pypi-server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'pip==26.3' 'devpi-server==6.20.3' 'devpi-client==7.2.0' 'pypiserver==2.4.2'
fi
cargo build --release --quiet -p haven
haven=$root/target/release/haven

names=$(python3 bench/packages/fixture.py "$work/fx")

up=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$up" --directory "$work/fx" >/dev/null 2>&1 &
pids+=($!)
wait_port "$up"

pps=$(free_port)
"$venv/bin/pypi-server" run -i 127.0.0.1 -p "$pps" -a . -P . --disable-fallback "$work/fx/wheels" >"$work/pypiserver.log" 2>&1 &
pids+=($!)
wait_port "$pps"

start_devpi() {
  rm -rf "$work/devpi"
  "$venv/bin/devpi-init" --serverdir "$work/devpi" --no-root-pypi >/dev/null 2>&1
  devpi_port=$(free_port)
  "$venv/bin/devpi-server" --serverdir "$work/devpi" --host 127.0.0.1 --port "$devpi_port" >"$work/devpi.log" 2>&1 &
  devpi_pid=$!
  pids+=($devpi_pid)
  wait_port "$devpi_port"
  export DEVPI_CLIENTDIR="$work/devpi-client"
  "$venv/bin/devpi" use "http://127.0.0.1:$devpi_port" >/dev/null
  "$venv/bin/devpi" login root --password '' >/dev/null
  "$venv/bin/devpi" index -c root/up type=mirror "mirror_url=http://127.0.0.1:$up/simple/" >/dev/null
}

start_haven() {
  rm -rf "$work/haven"
  haven_port=$(free_port)
  local env=(HAVEN_PACKAGES__PYPI__UPSTREAM="http://127.0.0.1:$up/simple/" HAVEN_PACKAGES__PYPI__MIN_AGE_DAYS=0
    HAVEN_LOG__LEVEL=warn HAVEN_METRICS__LISTEN=127.0.0.1:0)
  env "${env[@]}" "$haven" serve --data-dir "$work/haven" --listen "127.0.0.1:$haven_port" >"$work/haven.log" 2>&1 &
  haven_pid=$!
  pids+=($haven_pid)
  wait_port "$haven_port"
  env "${env[@]}" "$haven" users add bench --email bench@example.org --data-dir "$work/haven" >/dev/null
  token=$(env "${env[@]}" "$haven" packages token bench --label bench --data-dir "$work/haven" | tail -n 1 | tr -d ' ')
  for n in $names; do env "${env[@]}" "$haven" packages allow pypi "$n" --data-dir "$work/haven" >/dev/null; done
  cat "$work/haven/tls/ca.pem" "$work/ca.pem" >"$work/trust.pem"
  export SSL_CERT_FILE="$work/trust.pem"
}

# seconds for `pip install` of the closure from index $1 into a fresh target
pip_install() {
  local target
  target=$(mktemp -d -p "$work")
  local t0 t1
  t0=$(date +%s.%N)
  "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check --target "$target" --index-url "$1" bench-00 >"$work/pip.log" 2>&1 ||
    { cat "$work/pip.log" >&2; return 1; }
  t1=$(date +%s.%N)
  [ -d "$target/bench_19" ] || { echo "bench: the closure was not installed" >&2; return 1; }
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

accept='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01'
# "req/s p50 p99 failed logged" for URL $1 (extra wrk arguments after it): three 6 s rounds of wrk
# back to back, caches warm. wrk drops its connections at the end of each round, cancelling the
# requests in flight: the case that once left pooled database connections inside a transaction,
# so that 60-70 % of the next round's answers were 503s. req/s and the percentiles are the last
# round's; `failed` counts non-2xx answers and socket errors (connect, read, write, timeout) over
# all rounds; `logged` counts warnings and errors the server wrote to the log file $1 of
# LOAD_LOG meanwhile. A figure measured while requests failed is not a figure: the run reports
# them and exits non-zero at the end.
# Warnings and errors in a server's log. Not counted: rustls's note that a client sent an IP
# address as SNI (wrk does, for https://127.0.0.1/; RFC 6066 forbids it), one per connection.
log_problems() { grep -iE 'warn|error|traceback' "$1" | grep -vc 'Illegal SNI extension' || true; }
load() {
  local url=$1
  shift
  # The check only (wrk does not verify certificates either).
  curl -ksf -o /dev/null -H "Accept: $accept" "$@" "$url" || { echo "bench: $url does not answer" >&2; return 1; }
  local log_before=0 failed=0 round n s
  [ -n "${LOAD_LOG:-}" ] && log_before=$(log_problems "$LOAD_LOG")
  for round in 1 2 3; do
    wrk -t2 -c32 -d6s --latency -H "Accept: $accept" "$@" "$url" >"$work/wrk.txt"
    n=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
    s=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.txt")
    failed=$((failed + ${n:-0} + ${s:-0}))
  done
  local rps p50 p99 logged=0
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  [ -n "${LOAD_LOG:-}" ] && logged=$(( $(log_problems "$LOAD_LOG") - log_before ))
  [ "$failed" -eq 0 ] && [ "$logged" -eq 0 ] || echo "bench: $url: $failed failed requests, $logged log lines" >&2
  echo "$rps $p50 $p99 $failed $logged"
}

# The peers once more behind stunnel (TLS 1.3 to pip, plain HTTP behind), so that pip pays for
# HTTPS with every server alike. One CA for the stunnel certificate; pip trusts it and Haven's.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' >"$work/tls.ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
  -extfile "$work/tls.ext" -out "$work/tls.pem" 2>/dev/null
# TLS in front of 127.0.0.1:$1; sets $front to its port (not a subshell: the trap must see the pid).
tls_front() {
  local port
  port=$(free_port)
  printf 'foreground = yes\npid =\n[front]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
    "$port" "$1" "$work/tls.pem" "$work/tls.key" >"$work/stunnel-$port.conf"
  stunnel "$work/stunnel-$port.conf" >"$work/stunnel-$port.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
  front=$port
}

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
runs=5

# Cold: a fresh server (empty cache) per install; warm: installs against the same one.
cold=()
for _ in $(seq $runs); do
  start_haven
  cold+=("$(pip_install "https://bench:$token@127.0.0.1:$haven_port/pypi/simple/")")
  kill "$haven_pid"; wait "$haven_pid" 2>/dev/null || true
done
haven_cold=$(median "${cold[@]}")
start_haven
haven_index="https://bench:$token@127.0.0.1:$haven_port/pypi/simple/"
pip_install "$haven_index" >/dev/null
warm=(); for _ in $(seq $runs); do warm+=("$(pip_install "$haven_index")"); done
haven_warm=$(median "${warm[@]}")
auth="Authorization: Basic $(printf 'bench:%s' "$token" | base64 -w0)"
read -r haven_rps haven_p50 haven_p99 haven_failed haven_logged < <(LOAD_LOG="$work/haven.log" load "https://127.0.0.1:$haven_port/pypi/simple/bench-07/" -H "$auth")
kill "$haven_pid"

cold=()
for _ in $(seq $runs); do
  start_devpi
  cold+=("$(pip_install "http://127.0.0.1:$devpi_port/root/up/+simple/")")
  kill "$devpi_pid"; wait "$devpi_pid" 2>/dev/null || true
done
devpi_cold=$(median "${cold[@]}")
start_devpi
devpi_index="http://127.0.0.1:$devpi_port/root/up/+simple/"
pip_install "$devpi_index" >/dev/null
warm=(); for _ in $(seq $runs); do warm+=("$(pip_install "$devpi_index")"); done
devpi_warm=$(median "${warm[@]}")
read -r devpi_rps devpi_p50 devpi_p99 devpi_failed devpi_logged < <(LOAD_LOG="$work/devpi.log" load "http://127.0.0.1:$devpi_port/root/up/+simple/bench-07/")
tls_front "$devpi_port"
devpi_tls=$front
warm=(); for _ in $(seq $runs); do warm+=("$(pip_install "https://127.0.0.1:$devpi_tls/root/up/+simple/")"); done
devpi_tls_warm=$(median "${warm[@]}")
read -r devpi_tls_rps devpi_tls_p50 devpi_tls_p99 devpi_tls_failed devpi_tls_logged < <(LOAD_LOG="$work/devpi.log" load "https://127.0.0.1:$devpi_tls/root/up/+simple/bench-07/")
kill "$devpi_pid"

pps_index="http://127.0.0.1:$pps/simple/"
pip_install "$pps_index" >/dev/null
warm=(); for _ in $(seq $runs); do warm+=("$(pip_install "$pps_index")"); done
pps_warm=$(median "${warm[@]}")
pps_cold="—"
read -r pps_rps pps_p50 pps_p99 pps_failed pps_logged < <(LOAD_LOG="$work/pypiserver.log" load "http://127.0.0.1:$pps/simple/bench-07/")
tls_front "$pps"
pps_tls=$front
warm=(); for _ in $(seq $runs); do warm+=("$(pip_install "https://127.0.0.1:$pps_tls/simple/")"); done
pps_tls_warm=$(median "${warm[@]}")
read -r pps_tls_rps pps_tls_p50 pps_tls_p99 pps_tls_failed pps_tls_logged < <(LOAD_LOG="$work/pypiserver.log" load "https://127.0.0.1:$pps_tls/simple/bench-07/")

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "Machine: $(nproc) vCPU ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB; $(date -u +%Y-%m-%d)"
echo
echo "| server | index req/s | p50 | p99 | failed requests | warnings/errors logged | pip install, cold (s) | pip install, warm (s) |"
echo "|---|---|---|---|---|---|---|---|"
echo "| Haven $(git describe --always) (HTTPS + token) | $haven_rps | $haven_p50 | $haven_p99 | $haven_failed | $haven_logged | $haven_cold | $haven_warm |"
echo "| devpi-server 6.20.3 (HTTP) | $devpi_rps | $devpi_p50 | $devpi_p99 | $devpi_failed | $devpi_logged | $devpi_cold | $devpi_warm |"
echo "| pypiserver 2.4.2 (HTTP, files on disk) | $pps_rps | $pps_p50 | $pps_p99 | $pps_failed | $pps_logged | $pps_cold | $pps_warm |"
echo "| devpi-server behind stunnel (HTTPS) | $devpi_tls_rps | $devpi_tls_p50 | $devpi_tls_p99 | $devpi_tls_failed | $devpi_tls_logged | — | $devpi_tls_warm |"
echo "| pypiserver behind stunnel (HTTPS) | $pps_tls_rps | $pps_tls_p50 | $pps_tls_p99 | $pps_tls_failed | $pps_tls_logged | — | $pps_tls_warm |"
load_failures=$((haven_failed + haven_logged + devpi_failed + devpi_logged + pps_failed + pps_logged +
  devpi_tls_failed + devpi_tls_logged + pps_tls_failed + pps_tls_logged))
if [ "$load_failures" -ne 0 ]; then echo "bench: requests failed or errors were logged during the load; these figures do not count" >&2; exit 1; fi
