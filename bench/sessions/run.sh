#!/usr/bin/env bash
# Sessions, measured on this machine in one run:
#   - "Launch" to a usable terminal in headless Chromium (the page's button to the program's
#     prompt on screen), for a shell and for R, and to a usable JupyterLab (its launcher shown),
#     ROUNDS times each; and the same JupyterLab started bare (no sandbox, no Haven) as reference;
#   - a keystroke's round trip (sent, echoed back) through Haven's WebSocket bridge to bash in a
#     sandboxed session, against the same through ssh to bash over loopback (OpenSSH, a pty);
#   - the same round trip with N idle R sessions open beside it, N = 1, 2, 4… until the median
#     round trip doubles or N reaches MAX_SESSIONS, with the memory Haven and the sessions hold.
# Needs root, bubblewrap, socat, R, openssh-server (apt) and what scripts/test installs (Chromium,
# playwright-core in target/test-tools). Prints JSON for docs/benchmarks.md.
#
#   bench/sessions/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-10} MAX_SESSIONS=${MAX_SESSIONS:-64}
tools=$PWD/target/test-tools
[ -x /usr/sbin/sshd ] || { echo "install openssh-server (apt-get install openssh-server)" >&2; exit 1; }
"$tools/venv/bin/python" -c "import websockets" 2>/dev/null ||
  "$tools/venv/bin/pip" install -q --disable-pip-version-check 'websockets==15.0.1'
work=$(mktemp -d /var/tmp/haven-sessions.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cargo build --profile "${PROFILE:-release}" --quiet -p haven
cp "target/${PROFILE_DIR:-release}/haven" "$work/haven"
haven=$work/haven
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_port() { for _ in $(seq 1 100); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
port=$(free_port)
d=(--data-dir "$work/data")
HAVEN_SESSIONS__PER_USER=64 HAVEN_SESSIONS__PROCESSES=4096 HAVEN_LOG__LEVEL=warn HAVEN_METRICS__ENABLED=false \
  "$haven" serve "${d[@]}" --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
wait_port "$port"
url=$(sed -n 's/^Haven is running at //p' "$work/serve.out")
link=$("$haven" users add rita --email rita@example.org "${d[@]}" | grep -o 'https://[^ ]*/security/onboard?token=[^ ]*')
"$haven" users add owen --email owen@example.org "${d[@]}" >/dev/null
"$haven" users role owen staff "${d[@]}" >/dev/null
for u in owen rita; do "$haven" ig record "$u" data-security-awareness "$(date -u +%F)" "${d[@]}" >/dev/null; done
"$haven" assets create bench --iao owen --ig-ref IG/00001 --classification identifiable "${d[@]}" >/dev/null
printf 'asset,user_id,role,ends\nbench,rita,researcher,%s\n' "$(date -u -d '+90 days' +%F)" >"$work/members.csv"
"$haven" assets import-members "$work/members.csv" "${d[@]}" >/dev/null
"$haven" apps add shell 1 --kind terminal --command "/usr/bin/bash --norc --noprofile" "${d[@]}" >/dev/null
"$haven" apps add r 4 --kind terminal --command "/usr/bin/R --no-save --quiet" "${d[@]}" >/dev/null
lab=${JUPYTERLAB:-/opt/haven-test/jupyterlab/bin/jupyter-lab}
[ -x "$lab" ] || { echo "install JupyterLab as scripts/test does (or set JUPYTERLAB)" >&2; exit 1; }
"$haven" apps add jupyterlab 4.6 --kind web --command "$lab" "${d[@]}" >/dev/null

# Launch to usable, in Chromium; then the browser's cookies for the round trips.
ln -sfn "$tools/node/node_modules" bench/sessions/node_modules
launch=$(HAVEN_URL="$url" CHROMIUM="$(command -v chromium)" MEMBER_LINK="$link" COOKIES="$work/cookies" \
  APPS='shell@1=bash-5,r@4=> ,jupyterlab@4.6=@lab' JUPYTERLAB="$lab" ROUNDS="$ROUNDS" node bench/sessions/signin.mjs | tail -n 1)

# A plain sshd on loopback for the comparison.
ssh_port=$(free_port)
mkdir -p "$work/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host" && ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/user"
cp "$work/ssh/user.pub" "$work/ssh/authorized_keys"
/usr/sbin/sshd -D -p "$ssh_port" -h "$work/ssh/host" -o ListenAddress=127.0.0.1 \
  -o AuthorizedKeysFile="$work/ssh/authorized_keys" -o PasswordAuthentication=no -o StrictModes=no \
  -o PidFile="$work/sshd.pid" &
pids+=($!)
wait_port "$ssh_port"
rtt=$(env -u SSL_CERT_FILE -u REQUESTS_CA_BUNDLE HAVEN_URL="$url" CA="$work/data/tls/ca.pem" COOKIES="$work/cookies" \
  SSH_PORT="$ssh_port" SSH_KEY="$work/ssh/user" MAX_SESSIONS="$MAX_SESSIONS" "$tools/venv/bin/python" bench/sessions/rtt.py)
failed=$(grep -c ' status=5[0-9][0-9]' "$work/serve.log" || true)
errors=$(grep -c 'ERROR' "$work/serve.log" || true)
echo "{\"launch_ms\": $launch, \"round_trips\": $rtt, \"server_5xx\": $failed, \"logged_errors\": $errors}"
