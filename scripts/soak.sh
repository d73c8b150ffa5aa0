#!/usr/bin/env bash
# The soak test (`make soak`): thousands of film frames and photos through one process each, with
# the process's memory sampled all along, because a leak of a few kB per item only shows after
# thousands of items. Prints, per run: RSS at the end of the warm-up, the largest RSS, RSS at
# the end, the slope after the warm-up (MB per 1,000 items, least squares over the samples),
# items/s, and PASS/FAIL against the flatness criterion below.
#
#   1. `ddcolor film` over a SOAK_FRAMES-frame film (default 10000, 320x240 with AAC sound, made
#      with gst-launch), temporal smoothing SOAK_TEMPORAL (default recursive: `flow`, the
#      product's default, colorizes only about 13 frames/s of 160x120 on 2 cores, so 10,000
#      frames would take the whole time budget), then `--temporal flow` over SOAK_FLOW_FRAMES
#      frames (default 2000, 160x120; 0 skips it);
#   2. `ddcolor batch` over SOAK_PHOTOS photos (default 2000: variants of tests/media's photos,
#      long side 320 to 4800, grey and colour, JPEG and PNG); `batch` takes the largest first,
#      so its memory falls as it goes and could hide a slow leak; so also
#   3. `ddcolor photo` over SOAK_LIST_PHOTOS/2 of them in a shuffled order, twice in a row (under
#      other names) in one process (default 2000 items; 0 skips it): every stretch has the same
#      mix of sizes, and the second pass must need no more memory than the first;
#      1 to 3 with the small test model (models/generated/test-dynamic.onnx at S=SOAK_SIZE, 256);
#   4. `ddcolor photo --workflow building` (S from each photo's resolution) over SOAK_BENCH_PHOTOS
#      photos (default 8; 0 skips it), S 1280, 640, 384, 256 in turn, twice in a row, with
#      models/generated/bench.onnx, a DDColor-sized graph: ONNX Runtime's working memory at
#      S=1280 is several GB, so this is where memory the runtime keeps between photos shows.
#
# Flat (PASS), with the bound = SOAK_GROWTH_PCT % (default 5) of the warm-up's largest RSS or
# SOAK_GROWTH_MB (default 32), whichever is larger, when after the warm-up (the first
# SOAK_WARMUP_PCT % of the run's time, default 10; 5 for run 4, only the model's loading: its
# first pass is its own warm-up):
#   - the largest RSS of the second half is at most the first half's plus the bound (a leak
#     raises later peaks; photos in flight make RSS swing, alike in both halves);
#   - the smallest RSS of the second half is at most the first half's plus the bound (memory
#     held between items);
#   - for runs of 100 items or more, the fitted line rises by less than the bound.
# Items are placed in time at the run's average rate (the slope per item is the slope per
# second over items/s). RSS is /proc/PID/status VmRSS, every 0.5 s; samples are kept under
# target/soak/*.rss.tsv (seconds, MB).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${SOAK_FRAMES:-10000}
PHOTOS=${SOAK_PHOTOS:-2000}
BENCH_PHOTOS=${SOAK_BENCH_PHOTOS:-8}
LIST_PHOTOS=${SOAK_LIST_PHOTOS:-$PHOTOS}
FLOW_FRAMES=${SOAK_FLOW_FRAMES:-2000}
TEMPORAL=${SOAK_TEMPORAL:-recursive}
SIZE=${SOAK_SIZE:-256}
WARMUP_PCT=${SOAK_WARMUP_PCT:-10}
GROWTH_PCT=${SOAK_GROWTH_PCT:-5}
GROWTH_MB=${SOAK_GROWTH_MB:-32}
MODEL=models/generated/test-dynamic.onnx
BENCH_MODEL=models/generated/bench.onnx
OUT=target/soak
DDCOLOR=target/release/ddcolor
PY=.deps/venv/bin/python

echo "== build"
cargo build --release --locked -p ddcolor -p gst-plugin-ddcolor
mkdir -p "$OUT"

echo "== inputs under $OUT/"
# make_film FRAMES WIDTH HEIGHT: a grey test film with AAC sound (copied into the result, so
# the sound's path runs too), made once.
make_film() {
    local frames=$1 w=$2 h=$3
    local f=$OUT/film-$frames-${w}x$h.mp4
    if [ ! -s "$f" ]; then
        echo "making a $frames-frame film (${w}x$h, 25 fps, with sound): $f" >&2
        gst-launch-1.0 -q mp4mux name=mux ! filesink location="$f.part" \
            videotestsrc num-buffers="$frames" pattern=ball \
            ! video/x-raw,width="$w",height="$h",framerate=25/1 ! videoconvert \
            ! video/x-raw,format=GRAY8 ! videoconvert ! x264enc speed-preset=ultrafast ! mux. \
            audiotestsrc num-buffers="$frames" samplesperbuffer=1764 wave=pink-noise \
            ! audio/x-raw,rate=44100 ! audioconvert ! voaacenc ! mux. >&2
        mv "$f.part" "$f"
    fi
    echo "$f"
}
film=$(make_film "$FRAMES" 320 240)
flow_film=
if [ "$FLOW_FRAMES" -gt 0 ]; then
    flow_film=$(make_film "$FLOW_FRAMES" 160 120)
fi
photos=$OUT/inputs-$PHOTOS
if [ ! -d "$photos/photos" ] || [ "$(ls "$photos/photos" | wc -l)" -ne "$PHOTOS" ]; then
    rm -rf "$photos"
    $PY scripts/soak_photos.py "$photos" "$PHOTOS" \
        tests/media/photos/historical/* tests/media/photos/kodak/*
fi

results=()
# measure LABEL ITEMS WARMUP_PCT COMMAND...: runs COMMAND in the background, samples its RSS,
# and adds a line to the results table.
measure() {
    local label=$1 items=$2 warm_pct=$3
    shift 3
    local tsv=$OUT/$label.rss.tsv log=$OUT/$label.log
    echo
    echo "== $label: $items items, one process"
    if [ $# -gt 16 ]; then
        echo "${*:1:8} ... (${#} arguments) ... ${*: -8}"
    else
        echo "$*"
    fi
    local start rc=0 pid
    start=$(date +%s.%N)
    "$@" >"$log" 2>&1 &
    pid=$!
    : >"$tsv"
    while kill -0 "$pid" 2>/dev/null; do
        local kb
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        if [ -n "$kb" ]; then
            awk -v a="$(date +%s.%N)" -v b="$start" -v kb="$kb" \
                'BEGIN {printf "%.2f\t%.1f\n", a - b, kb / 1024}' >>"$tsv"
        fi
        sleep 0.5
    done
    wait "$pid" || rc=$?
    local seconds
    seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN {print a - b}')
    tail -n 3 "$log"
    if [ "$rc" -ne 0 ]; then
        echo "$label: exit status $rc (log: $log)"
        results+=("$(printf '%-14s exit status %s' "$label" "$rc") FAIL")
        return
    fi
    results+=("$(awk -v label="$label" -v items="$items" -v secs="$seconds" \
        -v wpct="$warm_pct" -v gpct="$GROWTH_PCT" -v gmb="$GROWTH_MB" '
        { t[NR] = $1; r[NR] = $2 }
        END {
            if (NR < 4) { printf "%-14s too few samples (%d)  FAIL", label, NR; exit }
            tw = secs * wpct / 100; mid = tw + (secs - tw) / 2; warm = 0; n = 0
            max1 = max2 = 0; min1 = min2 = 1e12
            for (i = 1; i <= NR; i++) {
                if (r[i] > peak) peak = r[i]
                if (t[i] <= tw) { if (r[i] > warm) warm = r[i]; continue }
                n++; sx += t[i]; sy += r[i]; sxx += t[i] * t[i]; sxy += t[i] * r[i]
                if (t[i] < mid) { if (r[i] > max1) max1 = r[i]; if (r[i] < min1) min1 = r[i] }
                else { if (r[i] > max2) max2 = r[i]; if (r[i] < min2) min2 = r[i] }
            }
            if (warm == 0) warm = max1
            slope = (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
            rate = items / secs
            per1000 = slope / rate * 1000
            rise = slope * (t[NR] - tw)
            bound = warm * gpct / 100; if (bound < gmb) bound = gmb
            ok = (max2 <= max1 + bound && min2 <= min1 + bound && (items < 100 || rise < bound)) ? "PASS" : "FAIL"
            printf "%-14s %6d %8.1f %9.2f %9.0f %9.0f %9.0f %11.2f %8.1f %6.0f/%-6.0f %6.0f/%-6.0f %6.0f  %s", \
                label, items, secs, rate, warm, peak, r[NR], per1000, rise, max1, max2, min1, min2, bound, ok
        }' "$tsv")")
}

measure film "$FRAMES" "$WARMUP_PCT" \
    "$DDCOLOR" film "$film" "$OUT/film-out.mp4" --overwrite --no-metadata \
    --model "$MODEL" --input-size "$SIZE" --device cpu --temporal "$TEMPORAL"
rm -f "$OUT/film-out.mp4"
if [ -n "$flow_film" ]; then
    measure film-flow "$FLOW_FRAMES" "$WARMUP_PCT" \
        "$DDCOLOR" film "$flow_film" "$OUT/film-out.mp4" --overwrite --no-metadata \
        --model "$MODEL" --input-size "$SIZE" --device cpu --temporal flow
    rm -f "$OUT/film-out.mp4"
fi

rm -rf "$OUT/batch-out"
measure photos "$PHOTOS" "$WARMUP_PCT" \
    "$DDCOLOR" batch "$photos/photos" "$OUT/batch-out" \
    --model "$MODEL" --input-size "$SIZE" --device cpu
rm -rf "$OUT/batch-out"

# Half the photos in a fixed shuffled order, then the same again under other names (hard links):
# a list keeps its order.
if [ "$LIST_PHOTOS" -gt 0 ]; then
    list_in=$OUT/list-in
    rm -rf "$list_in" "$OUT/list-out"
    mkdir -p "$list_in" "$OUT/list-out"
    mapfile -t half < <(ls "$photos"/photos/* | head -n $((LIST_PHOTOS / 2)) \
        | shuf --random-source=<(yes ddcolor-soak))
    list=()
    for pass in a b; do
        for f in "${half[@]}"; do
            ln "$f" "$list_in/$pass-${f##*/}"
            list+=("$list_in/$pass-${f##*/}")
        done
    done
    measure photo-list "${#list[@]}" "$WARMUP_PCT" \
        "$DDCOLOR" photo "${list[@]}" -o "$OUT/list-out/" \
        --model "$MODEL" --input-size "$SIZE" --device cpu
    rm -rf "$OUT/list-out" "$list_in"
fi

if [ "$BENCH_PHOTOS" -gt 0 ]; then
    # Long sides 4800, 2400, 1600 and 640 in turn: S 1280, 640, 384 and 256 under `auto`, so
    # every photo changes S; the list twice, under other names.
    bench_in=$OUT/bench-in
    rm -rf "$bench_in" "$OUT/bench-out"
    mkdir -p "$bench_in" "$OUT/bench-out"
    mapfile -t by_side < <(for side in 4800 2400 1600 640; do
        ls "$photos"/variants/*_"$side".* | sort | head -n $(((BENCH_PHOTOS + 3) / 4))
    done)
    per=$(((BENCH_PHOTOS + 3) / 4))
    bench=()
    for pass in a b; do
        for i in $(seq 0 $((BENCH_PHOTOS - 1))); do
            src=${by_side[$(((i % 4) * per + i / 4))]}
            dst=$bench_in/$pass-$(printf %03d "$i")-${src##*/}
            ln -f "$src" "$dst"
            bench+=("$dst")
        done
    done
    measure bench-photos "${#bench[@]}" 5 \
        "$DDCOLOR" photo "${bench[@]}" -o "$OUT/bench-out/" \
        --model "$BENCH_MODEL" --workflow building --device cpu
    rm -rf "$OUT/bench-out" "$bench_in"
fi

echo
echo "== soak: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "RSS in MB. Warm-up: the first ${WARMUP_PCT} % of each run's time (5 % for bench-photos); bound:"
echo "${GROWTH_PCT} % of the warm-up's largest RSS or ${GROWTH_MB} MB. After the warm-up, halves 1/2 by time:"
echo "flat (PASS) if max 2 <= max 1 + bound, min 2 <= min 1 + bound, and (100 items or more) the"
echo "fitted line's rise after the warm-up ('fit rise') < bound."
printf '%-14s %6s %8s %9s %9s %9s %9s %11s %8s %13s %13s %6s  %s\n' \
    run items seconds items/s warm-up max end "MB/1000 it" "fit rise" "max 1/2" "min 1/2" bound verdict
fail=0
for line in "${results[@]}"; do
    echo "$line"
    case "$line" in *FAIL) fail=1 ;; esac
done
exit "$fail"
