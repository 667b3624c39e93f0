#!/usr/bin/env bash
# Run the nightly sweep: load the service's environment, keep to one run per host (flock), log, and
# turn the command's exit status into something an operator can act on.
#
#   REGISTRY_ENV_FILE  environment file with REGISTRY_DATABASE_URL, REGISTRY_PII_KEY, ... (default
#                      /etc/registry/registry.env)
#   REGISTRY_BIN       the registry console script (default: the one on PATH)
#   REGISTRY_LOG_DIR   where run logs go (default /var/log/registry)
#   SWEEP_ARGS         extra arguments for `registry sweep` (e.g. --batch-size 5000)
#
# Exit status: 0 done; 3 refused by the safety cap (nothing changed; look at the activity feed, then
# rerun with --force if the numbers are right); 4 another sweep is running (the database lock; also
# 4 when this host's flock is taken); anything else: failed, see the log.
set -euo pipefail

env_file="${REGISTRY_ENV_FILE:-/etc/registry/registry.env}"
log_dir="${REGISTRY_LOG_DIR:-/var/log/registry}"
bin="${REGISTRY_BIN:-registry}"
lock_file="${REGISTRY_SWEEP_LOCK:-/tmp/registry-sweep.lock}"

if [[ -r "$env_file" ]]; then
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
fi
export REGISTRY_ACTOR="${REGISTRY_ACTOR:-cron:$(hostname -s)}"

mkdir -p "$log_dir"
log="$log_dir/sweep-$(date -u +%Y%m%dT%H%M%SZ).log"

exec 9>"$lock_file"
if ! flock -n 9; then
    echo "$(date -u +%FT%TZ) another sweep is running on this host ($lock_file)" | tee -a "$log" >&2
    exit 4
fi

set +e
# Accounts whose bans have all expired go back to active first, so tonight's sweep judges them too.
"$bin" bans expire >>"$log" 2>&1 || echo "$(date -u +%FT%TZ) bans expire failed; sweeping anyway" >>"$log"
# shellcheck disable=SC2086
"$bin" sweep ${SWEEP_ARGS:-} >>"$log" 2>&1
status=$?
set -e

case "$status" in
    0) echo "$(date -u +%FT%TZ) sweep done: $(tail -n 1 "$log")" >>"$log" ;;
    3) echo "$(date -u +%FT%TZ) sweep REFUSED by the safety cap; nothing changed; see $log" | tee -a "$log" >&2 ;;
    4) echo "$(date -u +%FT%TZ) another sweep holds the database lock; see $log" | tee -a "$log" >&2 ;;
    *) echo "$(date -u +%FT%TZ) sweep FAILED with status $status; see $log" | tee -a "$log" >&2 ;;
esac
# Keep a month of logs.
find "$log_dir" -name 'sweep-*.log' -mtime +31 -delete 2>/dev/null || true
exit "$status"
