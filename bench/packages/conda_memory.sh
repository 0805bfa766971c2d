#!/usr/bin/env bash
# Haven's memory while it serves a conda subdir far larger than what the policy allows: a
# generated repodata.json of N records (default 400,000, about conda-forge linux-64's size),
# one package allowed. Prints the file size, the time of the first (cold) repodata request and
# Haven's peak resident memory (VmHWM) before and after.
#
#   bench/packages/conda_memory.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-400000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cargo build --release --quiet -p haven
haven=$PWD/target/release/haven

mkdir -p "$work/up/big/linux-64" "$work/up/big/noarch"
python3 - "$n" "$work/up/big/linux-64/repodata.json" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    f.write('{"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": {')
    for i in range(n):
        name = f"pkg{i % (n // 8 or 1)}"
        ver = f"1.{i // (n // 8 or 1)}"
        rec = {"name": name, "version": ver, "build": "h0_0", "build_number": 0,
               "depends": ["python >=3.9", "libgcc-ng >=12", f"pkg{(i + 1) % 1000} >=1"],
               "constrains": [], "license": "BSD-3-Clause", "md5": "0" * 32, "sha256": "ab" * 32,
               "size": 123456, "subdir": "linux-64", "timestamp": 1700000000000}
        f.write(("," if i else "") + json.dumps(f"{name}-{ver}-h0_0.conda") + ":" + json.dumps(rec))
    f.write("}}")
PY
size=$(du -m "$work/up/big/linux-64/repodata.json" | cut -f1)
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
env=(HAVEN_PACKAGES__CONDA__UPSTREAM="file://$work/up/" HAVEN_PACKAGES__CONDA__CHANNELS='["big"]'
  HAVEN_PACKAGES__CONDA__MIN_AGE_DAYS=0 HAVEN_LOG__LEVEL=warn HAVEN_METRICS__LISTEN=127.0.0.1:0)
env "${env[@]}" "$haven" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/haven.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -ksf -o /dev/null "https://127.0.0.1:$port/healthz" && break; sleep 0.2; done
env "${env[@]}" "$haven" users add bench --email bench@example.org --data-dir "$work/data" >/dev/null
token=$(env "${env[@]}" "$haven" packages token bench --label bench --data-dir "$work/data" | tail -n 1 | tr -d ' ')
env "${env[@]}" "$haven" packages allow conda pkg1 --data-dir "$work/data" >/dev/null
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status"; }
before=$(hwm)
t0=$(date +%s.%N)
kept=$(curl -ksf -u "bench:$token" "https://127.0.0.1:$port/conda/big/linux-64/repodata.json" |
  python3 -c "import json, sys; print(len(json.load(sys.stdin)['packages.conda']))")
t1=$(date +%s.%N)
echo "records: $n ($size MiB), served: $kept; first request $(python3 -c "print(f'{$t1 - $t0:.1f}')") s; Haven peak RSS: $before MiB before, $(hwm) MiB after"
