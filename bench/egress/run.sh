#!/usr/bin/env bash
# Egress checks on a 1 GiB record file, measured on this machine in one run:
#   - `haven egress check --records` (the table region × sex built from the records, its counts
#     and the sum of income checked: threshold, zeros, dominance, p-ratio), against ACRO's
#     crosstab and checks (pandas) on the same file, ROUNDS times each;
#   - `haven egress check` on the same file as an output table (every cell searched for
#     identifiers, counts checked);
#   - peak memory of each (GNU time's maximum resident set size).
# Needs what scripts/test installs (ACRO in /opt/haven-test/acro) and /usr/bin/time (apt: time).
# Prints JSON for docs/benchmarks.md.
#
#   bench/egress/run.sh            SIZE=1073741824 ROUNDS=3 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE=${SIZE:-1073741824} ROUNDS=${ROUNDS:-3}
acro=${HAVEN_TEST_ACRO:-/opt/haven-test/acro/bin/python}
[ -x /usr/bin/time ] || { echo "install GNU time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/haven-egress.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cargo build --profile "${PROFILE:-release}" --quiet -p haven
haven=target/${PROFILE_DIR:-release}/haven
# The file is a little over 1 GiB, the checks' default limit for a file that may leave.
export HAVEN_EGRESS__CHECKS__MAX_FILE_BYTES=4294967296
python3 bench/egress/gen.py "$work/records.csv" "$SIZE"
bytes=$(stat -c %s "$work/records.csv")
# Seconds and peak kB of one command (its own output discarded; the exit status 1 of a failing
# check is expected).
measure() {
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss" "$@" >"$work/out" 2>"$work/err" || true
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $(tail -n 1 "$work/rss")"
}
results=()
for round in $(seq 1 "$ROUNDS"); do
  cat "$work/records.csv" >/dev/null # the file from the page cache for everyone alike
  read -r h_s h_kb < <(measure "$haven" egress check --records --rows region --columns sex --values income "$work/records.csv")
  haven_findings=$(grep -c '^  fail' "$work/out" || true)
  read -r t_s t_kb < <(measure "$haven" egress check "$work/records.csv")
  table_findings=$(grep -c '^  ' "$work/out" || true)
  read -r a_s a_kb < <(measure "$acro" bench/egress/acro_table.py "$work/records.csv" region sex income)
  acro_out=$(tail -n 1 "$work/out")
  results+=("{\"round\": $round, \"haven_records_s\": $h_s, \"haven_records_peak_kb\": $h_kb, \"haven_failed_cells\": $haven_findings, \
\"haven_table_s\": $t_s, \"haven_table_peak_kb\": $t_kb, \"haven_table_findings\": $table_findings, \
\"acro_s\": $a_s, \"acro_peak_kb\": $a_kb, \"acro\": $acro_out}")
done
printf '{"bytes": %s, "machine": "%s", "cpus": %s, "date": "%s", "rounds": [%s]}\n' \
  "$bytes" "$(uname -srm)" "$(nproc)" "$(date -u +%FT%TZ)" "$(IFS=,; echo "${results[*]}")"
