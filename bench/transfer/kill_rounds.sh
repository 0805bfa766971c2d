#!/usr/bin/env bash
# The server killed (SIGKILL) mid-upload and restarted, N rounds: each round `haven upload`
# sends a 32 MiB file through a drop-off link in 2 MiB requests; a moment after the upload is
# created the server is killed and started again on the same port; the client must carry on
# and finish with the SHA-256 Haven stored matching the file's. Each arrival is then rejected
# (crypto-shredded) so that disk use stays flat. Prints how many rounds resumed after a kill.
#
#   bench/transfer/kill_rounds.sh 1000
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-100}
work=$(mktemp -d /var/tmp/haven-kill.XXXXXX)
server=
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$work"' EXIT
cargo build --release --quiet -p haven
# A copy: a build during the run must not change the server under test.
cp target/release/haven "$work/haven"
haven=$work/haven
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
d=(--data-dir "$work/data")

start() {
  # One link starts every round's upload: lift its hourly limit (transfer.link_uploads_per_hour).
  HAVEN_TRANSFER__LINK_UPLOADS_PER_HOUR=100000 HAVEN_METRICS__ENABLED=false HAVEN_LOG__LEVEL=warn "$haven" serve "${d[@]}" --listen "127.0.0.1:$port" \
    >>"$work/serve.out" 2>>"$work/serve.log" &
  server=$!
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$port" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the server did not start" >&2; exit 1
}

start
"$haven" users add owen --email owen@example.org "${d[@]}" >/dev/null
"$haven" users role owen staff "${d[@]}" >/dev/null
"$haven" ig record owen data-security-awareness "$(date -u +%F)" "${d[@]}" >/dev/null
"$haven" assets create bench --iao owen --ig-ref IG/00001 --classification identifiable "${d[@]}" >/dev/null
link=$("$haven" transfer link create --asset bench --as owen --label kill-rounds "${d[@]}" | sed -n 1p)
head -c $((32 * 1024 * 1024)) /dev/urandom >"$work/file.bin"
sha=$(sha256sum "$work/file.bin" | cut -d' ' -f1)
resumed=0
for round in $(seq 1 "$rounds"); do
  rm -rf "$work/state"
  XDG_STATE_HOME="$work/state" "$haven" upload --link "$link" --cacert "$work/data/tls/ca.pem" --request-mib 2 \
    --receipts "$work/receipts" "$work/file.bin" >"$work/client.out" 2>&1 &
  client=$!
  until [ -s "$work/state/haven/uploads.json" ] || ! kill -0 "$client" 2>/dev/null; do sleep 0.002; done
  sleep "0.$(printf '%03d' $((RANDOM % 150)))"
  kill -9 "$server"; wait "$server" 2>/dev/null || true
  start
  if ! wait "$client"; then
    echo "round $round: the client failed:" >&2; cat "$work/client.out" >&2; exit 1
  fi
  grep -q "SHA-256 $sha matches what Haven stored" "$work/client.out" || {
    echo "round $round: no matching SHA-256:" >&2; cat "$work/client.out" >&2; exit 1
  }
  grep -q "resuming" "$work/client.out" && resumed=$((resumed + 1))
  id=$("$haven" transfer arrivals --asset bench "${d[@]}" | awk 'NR == 2 { print $1 }')
  "$haven" transfer reject "$id" --as owen "${d[@]}" >/dev/null
  rm -rf "$work/receipts"
  if [ $((round % 50)) = 0 ]; then echo "$round rounds, $resumed resumed after the kill" >&2; fi
done
# A kill mid-write leaves the part's file in blobs/staging/, swept by the server after a day.
staged=$(find "$work/data/blobs/staging" -type f 2>/dev/null | wc -l)
echo "$rounds rounds: every upload finished with the SHA-256 of the file; $resumed resumed after the server was killed mid-upload; $staged part files left half-written (swept after a day)"
