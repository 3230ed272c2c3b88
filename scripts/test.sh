#!/usr/bin/env bash
# npm test: typecheck, lint, build, the unit and integration tests, the fault suite; then it
# fails if any process the tests started is still alive. Every such process inherits
# ADNOTIFY_TEST_RUN, which is how scripts/leftovers.ts finds them (and stops them).
set -uo pipefail
cd "$(dirname "$0")/.."
export ADNOTIFY_TEST_RUN="run-$$-$(date +%s%N)"

status=0
npm run --silent typecheck && npm run --silent lint && npm run --silent build &&
  vitest run --project default && vitest run --project faults || status=$?

env -u ADNOTIFY_TEST_RUN tsx scripts/leftovers.ts "$ADNOTIFY_TEST_RUN" "$$" || {
  [ "$status" -eq 0 ] && status=1
}
exit "$status"
