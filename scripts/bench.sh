#!/usr/bin/env bash
# The photo benchmark (`make bench`), all in one session so the figures are comparable:
#   1. per-photo time split for a 1024x768 and a 3000x2000 photo, bench model at S=512;
#   2. `ddcolor batch` over the historical photos (all 35 from ../shared/media when it is beside
#      the project, else the 9 in tests/media) against the model alone called as many times (the
#      ceiling), measured in turns, BENCH_ROUNDS times (default 3): the machine is shared
#      and its speed drifts by several per cent within minutes, so each batch is compared with
#      the ceiling measured just before it, and the median ratio is the figure;
#   3. the Python reference recipe (numpy + OpenCV + onnxruntime) on the same photos and model.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/media.sh
SIZE=${BENCH_SIZE:-512}
ROUNDS=${BENCH_ROUNDS:-3}
MODEL=models/generated/bench.onnx
HIST=$(full_set photos/historical)
N=$(ls "$HIST" | wc -l)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

seconds_since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{print a-b}'; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== 1. per-photo split"
BENCH_SIZE=$SIZE BENCH_CEILING_CALLS=0 cargo bench --locked -q -p ddcolor --bench photo 2>/dev/null | grep -v "^CEILING"

echo
echo "== 2. ddcolor batch over $N historical photos against the model alone, $ROUNDS rounds"
printf '%-6s %12s %12s %10s\n' round "ceiling s" "batch s" "x ceiling"
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    ceiling=$(BENCH_SIZE=$SIZE BENCH_CEILING_CALLS=$N BENCH_CEILING_ONLY=1 \
        cargo bench --locked -q -p ddcolor --bench photo 2>/dev/null | awk '/^CEILING/ {print $(NF-1)}')
    if [ -z "$ceiling" ]; then
        echo "the model-alone run printed no CEILING line (cargo bench -p ddcolor --bench photo)" >&2
        exit 1
    fi
    rm -rf "$tmp/batch"
    start=$(date +%s.%N)
    target/release/ddcolor batch "$HIST" "$tmp/batch" --model "$MODEL" --input-size "$SIZE" \
        >"$tmp/batch.log" 2>&1 || { cat "$tmp/batch.log"; exit 1; }
    batch=$(seconds_since "$start")
    ratio=$(awk -v a="$batch" -v b="$ceiling" 'BEGIN{printf "%.3f", a/b}')
    ratios+=("$ratio")
    printf '%-6s %12.2f %12.2f %10s\n' "$r" "$ceiling" "$batch" "$ratio"
done
grep -E "^done" "$tmp/batch.log" || true
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')

echo
echo "== 3. Python reference recipe on the same photos"
start=$(date +%s.%N)
.deps/venv/bin/python tests/reference/recipe.py --model "$MODEL" --input-size "$SIZE" --out-dir "$tmp/python" "$HIST"/* >/dev/null
python=$(seconds_since "$start")

echo
printf '%-44s %8s %8s\n' "batch of $N historical photos, S=$SIZE" "seconds" "x ceiling"
printf '%-44s %8.2f %8.3f\n' "model alone, $N calls (ceiling, last round)" "$ceiling" 1
printf '%-44s %8.2f %8.3f\n' "ddcolor batch (last round; median ratio below)" "$batch" "$(awk -v a="$batch" -v b="$ceiling" 'BEGIN{print a/b}')"
printf '%-44s %8.2f %8.3f\n' "Python reference recipe (whole run)" "$python" "$(awk -v a="$python" -v b="$ceiling" 'BEGIN{print a/b}')"
echo "batch / ceiling, median of $ROUNDS rounds: $median (target <= 1.05)"
