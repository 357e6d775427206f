#!/usr/bin/env bash
# `make test-repeat`: the suite REPEAT times in a row (default 20), each run in a new random order
# (pytest-randomly, a fresh seed each time), without coverage. Stops at the first failing run and says
# which seed and which tests, so the order can be replayed:
#   make test PYTEST_ARGS='--randomly-seed=N'
# Usage: test-repeat.sh PYTHON [pytest arguments...]
set -uo pipefail
python=$1
shift
repeat=${REPEAT:-20}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$SECONDS
for ((run = 1; run <= repeat; run++)); do
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    run_started=$SECONDS
    "$python" -m pytest -q -p no:cacheprovider -x -p randomly --randomly-seed="$seed" "$@" >"$log" 2>&1
    status=$?
    summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$log" | tail -n 1 || true)
    if ((status != 0)); then
        echo "test-repeat: run $run of $repeat FAILED (exit $status), seed $seed: ${summary:-no summary}"
        grep -E '^(FAILED|ERROR) ' "$log" || tail -n 40 "$log"
        echo "test-repeat: replay with: make test PYTEST_ARGS='--randomly-seed=$seed'"
        echo "test-repeat: $((run - 1)) run(s) passed before it"
        exit 1
    fi
    echo "test-repeat: run $run of $repeat passed, seed $seed, $((SECONDS - run_started)) s: $summary"
done
echo "test-repeat: $repeat runs in a row passed, each in a new random order ($((SECONDS - started)) s)"
