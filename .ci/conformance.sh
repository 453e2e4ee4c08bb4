#!/usr/bin/env bash
# Contract conformance: schemathesis, every check, against the real server built by this
# checkout, from its own /openapi.json, once with a patient's token and once with the admin's.
# Any failure fails CI. What it checks and leaves out, and why: docs/DECISIONS.md, "Contract
# conformance". Run by .ci/run after `cargo test`; also runs on its own:
#     bash .ci/conformance.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
# Installed once per machine, outside the checkout, and reused by the next run.
VENV="${HEALTHAPI_CONFORMANCE_VENV:-/var/tmp/healthapi-schemathesis-$ST_VERSION}"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

# The server as `cargo test` built it (a no-op build after it).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin healthapi
BIN="$CARGO_TARGET_DIR/debug/healthapi"

WORK="$(mktemp -d /tmp/healthapi-conformance.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ADMIN_PASSWORD="conformance-admin-$RANDOM$RANDOM"
mkdir -p "$WORK/data"
# Port 0: the kernel picks a free port, which the server logs.
HEALTHAPI_ADMIN_PASSWORD="$ADMIN_PASSWORD" HEALTHAPI_DATA_DIR="$WORK/data" \
  DATABASE_URL="sqlite://$WORK/data/healthapi.db" HEALTHAPI_LOG_FORMAT=text \
  "$BIN" --bind 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 200); do
  ADDR="$(grep -o 'healthapi listening address=[0-9.:]*' "$WORK/server.log" | head -1 | cut -d= -f2 || true)"
  if [ -n "$ADDR" ] && curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1; then
    BASE="http://$ADDR"
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "conformance: the server did not start" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

# POST a JSON body; print one field of the JSON answer.
post_field() {
  curl -fsS -X POST "$BASE$1" -H 'content-type: application/json' -d "$2" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$3"
}
ADMIN_TOKEN="$(post_field /api/v1/auth/login \
  "{\"email\":\"admin@healthapi.local\",\"password\":\"$ADMIN_PASSWORD\"}" access_token)"
post_field /api/v1/auth/register \
  '{"email":"conformance@example.test","password":"conformance-patient-1","given_name":"Con","family_name":"Formance","birth_date":"1990-01-02","sex":"female"}' \
  user >/dev/null
PATIENT_TOKEN="$(post_field /api/v1/auth/login \
  '{"email":"conformance@example.test","password":"conformance-patient-1"}' access_token)"

# One run per token; the patient's first, so that nothing the admin's run changes (an account
# it deactivates, say) stands in the patient's way. Each is bounded by its example count and,
# hard, by `timeout`.
status=0
passed=0
failed=0
for who in patient admin; do
  if [ "$who" = patient ]; then token="$PATIENT_TOKEN"; else token="$ADMIN_TOKEN"; fi
  echo "conformance: schemathesis $ST_VERSION, $who token, $BASE/openapi.json"
  started=$SECONDS
  if ! HEALTHAPI_CONFORMANCE_TOKEN="$token" timeout 170 "$VENV/bin/st" \
      --config-file .ci/schemathesis.toml run "$BASE/openapi.json" \
      --header "Authorization: Bearer $token" \
      --no-color --report ndjson --report-dir "${HEALTHAPI_CONFORMANCE_REPORTS:-$WORK}/report-$who" \
      >"$WORK/st-$who.log" 2>&1; then
    status=1
    cat "$WORK/st-$who.log"
    found="$(grep -Eo '[0-9]+ unique failures' "$WORK/st-$who.log" | tail -1 | cut -d' ' -f1 || true)"
    failed=$((failed + ${found:-1}))
  else
    sed -n '/=== SUMMARY ===/,$p' "$WORK/st-$who.log"
  fi
  ok="$(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$WORK/st-$who.log" | tail -1 | awk '{print $3}' || true)"
  passed=$((passed + ${ok:-0}))
  echo "conformance: $who run took $((SECONDS - started)) s"
done
# The closing line CI reads: test cases that passed, failures found.
echo "conformance: $passed passed, $failed failed"
if [ "$status" -ne 0 ]; then
  echo "conformance: FAILED (server log tail follows)" >&2
  tail -20 "$WORK/server.log" >&2
fi
exit "$status"
