#!/usr/bin/env bash
# The film benchmark (`make bench-film`), all in one session so the figures are comparable:
# `ddcolor film` on the archival sample with the bench model at S=256 and S=512, against the
# same model alone on ready-made inputs (the ceiling). Rates are frames per second after
# start-up (model loading and pipeline start excluded), as a long reel would see them.
# The film is cut to its first frames to keep the run short (BENCH_FRAMES_256, BENCH_FRAMES_512).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/media.sh
FILM=$(media film/a-bomb_blast_effects_part.mp4)
MODEL=models/generated/bench.onnx
N256=${BENCH_FRAMES_256:-120}
N512=${BENCH_FRAMES_512:-40}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
rate() { awk -v n="$1" -v t="$2" 'BEGIN{printf "%.3f", n/t}'; }
rows=()
for S in 256 512; do
    n=$([ "$S" = 256 ] && echo "$N256" || echo "$N512")
    clip=$tmp/clip$S.mp4
    gst-launch-1.0 -q filesrc location="$FILM" ! decodebin ! identity eos-after="$n" ! videoconvert \
        ! x264enc pass=quant quantizer=10 speed-preset=ultrafast ! mp4mux ! filesink location="$clip"
    calls=$(( n / 3 > 10 ? n / 3 : 10 ))
    ceil=$(BENCH_SIZE=$S BENCH_CEILING_CALLS=$calls BENCH_CEILING_ONLY=1 cargo bench --locked -q -p ddcolor --bench photo 2>/dev/null \
        | awk '/^CEILING/ {print $(NF-1)}')
    ceil_fps=$(rate "$calls" "$ceil")
    for batch in 1 4; do
        [ "$S" = 512 ] && [ "$batch" = 4 ] && continue
        line=$(target/release/ddcolor film "$clip" "$tmp/out$S-$batch.mp4" --model "$MODEL" --input-size "$S" \
            --batch-size "$batch" --overwrite 2>&1 | grep '^done:')
        frames=$(sed -E 's/^done: ([0-9]+) frames.*/\1/' <<<"$line")
        steady=$(sed -E 's/.*, ([0-9.]+) after start-up.*/\1/' <<<"$line")
        whole=$(sed -E 's/.*\(([0-9.]+) frames\/s.*/\1/' <<<"$line")
        rows+=("$(printf '%-6s %-6s %7s %12s %12s %12s %9s' "$S" "$batch" "$frames" "$whole" "$steady" "$ceil_fps" \
            "$(awk -v a="$steady" -v b="$ceil_fps" 'BEGIN{printf "%.1f%%", 100*a/b}')")")
    done
done
echo
printf '%-6s %-6s %7s %12s %12s %12s %9s\n' "S" "batch" "frames" "fps(whole)" "fps(steady)" "ceiling fps" "steady/ceiling"
printf '%s\n' "${rows[@]}"
