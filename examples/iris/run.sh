#!/usr/bin/env bash
# The iris example, end to end, in a fresh temp repository (removed afterwards; KEEP=1 keeps it):
# track a dataset, train twice with different params under `trove run`, change the dataset, train
# again, then ask the questions trove is for: which run is best, where the model came from, which runs
# used the first version of the data, and bring that exact data back. Exits non-zero if anything is off.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# This checkout's own trove, never a global one.
trove() { node "$ROOT/bin/trove.js" "$@"; }
sha256() { node -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest("hex"))' "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "example FAILED: $*" >&2; exit 1; }
last_run() { trove runs list --limit 1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].id))'; }

[ -f "$ROOT/dist/cli/main.js" ] || fail "trove is not built: run \`npm run build\` (or \`npm run example\`)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/trove-iris-XXXXXX")"
if [ "${KEEP:-}" = 1 ]; then echo "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
REPO="$WORK/iris"
mkdir -p "$REPO/src"
cd "$REPO"

step "a git repository with trove"
git init -q -b main
git config user.email example@trove.invalid
git config user.name "trove example"
git config commit.gpgsign false
cp "$HERE/gen-data.mjs" "$HERE/train.mjs" src/
trove init
git add -A && git commit -qm "iris example: code"

step "track the dataset (version 1)"
node src/gen-data.mjs data/iris.csv --version 1
FIRST_SHA="$(sha256 data/iris.csv)"
trove add data/iris.csv
git add data/iris.csv.trove data/.gitignore && git commit -qm "iris data v1"
FIRST_COMMIT="$(git rev-parse --short HEAD)"

# An unknown command with --help still prints the main help and exits 0, so look at what it says
# (captured first: grep -q closing the pipe early would break trove's write).
REMOTE_HELP="$(trove remote --help 2>/dev/null || true)"
if grep -q "Usage: trove remote" <<<"$REMOTE_HELP"; then
  step "a folder remote"
  trove remote add origin "$WORK/remote"
  HAVE_REMOTE=1
else
  echo "note: this trove has no \`trove remote\` yet; skipping the push step"
  HAVE_REMOTE=0
fi

train() { # name lr epochs
  trove run -n "$1" -e iris -p lr="$2" -p epochs="$3" -i data/iris.csv \
    -o models/scaler.json -o models/model.bin -- node src/train.mjs --lr "$2" --epochs "$3"
  git add models/*.trove models/.gitignore && git commit -qm "model from run $1"
}

step "train twice with different params"
train lr-0.05 0.05 100
RUN1="$(last_run)"
train lr-0.5 0.5 300
RUN2="$(last_run)"

step "the dataset changes (version 2); train again"
node src/gen-data.mjs data/iris.csv --version 2
trove add data/iris.csv
git add data/iris.csv.trove && git commit -qm "iris data v2"
train lr-0.5-v2 0.5 300
RUN3="$(last_run)"

if [ "$HAVE_REMOTE" = 1 ]; then
  step "push data and run records"
  trove push
fi

step "trove runs list --sort \"metrics.test_accuracy DESC\""
trove runs list --sort "metrics.test_accuracy DESC"

step "trove lineage models/model.bin"
trove lineage models/model.bin

step "trove runs list --uses data/iris.csv@$FIRST_COMMIT   (the runs that read the first version)"
USES="$(trove runs list --uses "data/iris.csv@$FIRST_COMMIT")"
echo "$USES"
grep -q "$RUN1" <<<"$USES" || fail "run $RUN1 should be listed as using the first version"
grep -q "$RUN2" <<<"$USES" || fail "run $RUN2 should be listed as using the first version"
if grep -q "$RUN3" <<<"$USES"; then fail "run $RUN3 read version 2 and should not be listed"; fi

step "trove runs compare $RUN1 $RUN3"
trove runs compare "$RUN1" "$RUN3"

step "trove checkout --run $RUN1 --inputs   (the first model's exact data comes back)"
[ "$(sha256 data/iris.csv)" != "$FIRST_SHA" ] || fail "the dataset should be at version 2 before the checkout"
trove checkout --run "$RUN1" --inputs
GOT="$(sha256 data/iris.csv)"
[ "$GOT" = "$FIRST_SHA" ] || fail "restored data/iris.csv has sha256 $GOT, expected $FIRST_SHA"
echo "data/iris.csv sha256 $GOT: the version run $RUN1 trained on"

step "example passed"
