#!/usr/bin/env bash
# The photo benchmark (`make bench`), all in one session so the figures are comparable:
#   1. per-photo time split for a 1024x768 and a 3000x2000 photo, bench model at S=512;
#   2. `ddcolor batch` over the 35 historical photos against the model alone called 35 times;
#   3. the Python reference recipe (numpy + OpenCV + onnxruntime) on the same photos and model.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${BENCH_SIZE:-512}
MODEL=models/generated/bench.onnx
HIST=../shared/media/photos/historical
N=$(ls "$HIST" | wc -l)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== 1. per-photo split and model ceiling"
BENCH_SIZE=$SIZE BENCH_CEILING_CALLS=$N cargo bench --locked -q -p ddcolor --bench photo 2>/dev/null | tee "$tmp/split.txt"
ceiling=$(awk '/^CEILING/ {print $(NF-1)}' "$tmp/split.txt")

echo
echo "== 2. ddcolor batch over $N historical photos"
start=$(date +%s.%N)
target/release/ddcolor batch "$HIST" "$tmp/batch" --model "$MODEL" --input-size "$SIZE" --overwrite 2>&1 | grep -E "^done|failed" || true
batch=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{print a-b}')

echo
echo "== 3. Python reference recipe on the same photos"
start=$(date +%s.%N)
.deps/venv/bin/python tests/reference/recipe.py --model "$MODEL" --input-size "$SIZE" --out-dir "$tmp/python" "$HIST"/* >/dev/null
python=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{print a-b}')

echo
printf '%-44s %8s %8s\n' "batch of $N historical photos, S=$SIZE" "seconds" "x ceiling"
printf '%-44s %8.2f %8.3f\n' "model alone, $N calls (ceiling)" "$ceiling" 1
printf '%-44s %8.2f %8.3f\n' "ddcolor batch (decode..encode, whole run)" "$batch" "$(awk -v a="$batch" -v b="$ceiling" 'BEGIN{print a/b}')"
printf '%-44s %8.2f %8.3f\n' "Python reference recipe (whole run)" "$python" "$(awk -v a="$python" -v b="$ceiling" 'BEGIN{print a/b}')"
