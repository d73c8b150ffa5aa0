#!/usr/bin/env bash
# The temporal-smoothing benchmark (`make bench-temporal`). Everything it prints is measured in
# this run; outputs (frames, JSON, plots) stay under target/bench-temporal/.
#
# 1. Flickering oracle on the colour clips (bikes and carphone from ../shared/media/video-color/,
#    Big Buck Bunny from tests/media/video-color/ when there), turned grey: the
#    true chroma plus seeded, smooth, per-frame perturbations and hue jumps, smoothed by the
#    engine in each mode, measured by `ddcolor metrics` against the truth.
# 2. Ghosting: a patch moving over a still photo; ab error in its wake, per mode.
# 3. Cuts: clips spliced at known frames; scene-cut precision and recall.
# 4. The archival film with the bench model through `ddcolor film`, each mode, measured.
# 5. Cost: smoothing time per frame against the model's at S=512.
# The targets for temporal smoothing are checked at the end (PASS/FAIL lines).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/media.sh
ROOT=$PWD
B=$ROOT/target/bench-temporal
MODEL=$ROOT/models/generated/bench.onnx
DDCOLOR=$ROOT/target/release/ddcolor
FILM_SIZE=${BENCH_FILM_SIZE:-256}
mkdir -p "$B/clips" "$B/out"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
bench() { cargo bench --locked -q -p ddcolor-engine --bench temporal -- "$@"; }

# Frames of each clip, as PNGs (decoded once).
extract() {
    local src=$1 dir=$2
    if [ ! -e "$dir/.done" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        gst-launch-1.0 -q filesrc location="$src" ! decodebin ! videoconvert ! video/x-raw,format=RGB \
            ! pngenc compression-level=1 ! multifilesink location="$dir/frame_%06d.png"
        touch "$dir/.done"
    fi
}
CLIPS=(bikes carphone_pristine bigbuckbunny)
ABOMB=$(media film/a-bomb_blast_effects_part.mp4)
for c in "${CLIPS[@]}"; do extract "$(media "video-color/$c.mp4")" "$B/clips/$c"; done
extract "$ABOMB" "$B/clips/abomb"

echo
echo "== 1. flickering oracle (S=256), measured against the truth"
for c in "${CLIPS[@]}"; do
    o=$B/out/$c
    bench oracle "$B/clips/$c" "$o" | sed "s/^/$c: /"
    "$DDCOLOR" metrics "$o/off" "$o/recursive" "$o/flow" --input "$o/grey" --truth "$B/clips/$c" \
        --json "$o/metrics.json" --plot "$o/metrics.png"
    echo "   plot: $o/metrics.png"
done

echo
echo "== 2. ghosting: ab error in the wake of a moving patch (lower is better)"
bench ghost "$B/out/ghost" | tee "$B/out/ghost.txt"

echo
echo "== 3. scene cuts on spliced clips"
bench cuts "$B/out/cuts" "$B/clips" | tee "$B/out/cuts.txt"

echo
echo "== 4. archival film, bench model at S=$FILM_SIZE, through ddcolor film"
a=$B/out/abomb
mkdir -p "$a"
for mode in off recursive flow; do
    "$DDCOLOR" film "$ABOMB" "$a/$mode.mkv" --lossless --overwrite \
        --model "$MODEL" --input-size "$FILM_SIZE" --temporal "$mode" 2>&1 | grep '^done:' | sed "s/^/$mode: /"
done
"$DDCOLOR" metrics "$a/off.mkv" "$a/recursive.mkv" "$a/flow.mkv" --input "$ABOMB" \
    --json "$a/metrics.json" --plot "$a/metrics.png"
echo "   plot: $a/metrics.png"

echo
echo "== 5. cost at S=512 (model alone vs smoothing, same frames, same run)"
bench cost "$MODEL" "$B/clips/abomb" | tee "$B/out/cost.txt"

echo
echo "== targets"
python3 - "$B" "${CLIPS[@]}" <<'EOF'
import json, re, sys
b, clips = sys.argv[1], sys.argv[2:]
ok = True
def check(cond, what):
    global ok
    ok &= cond
    print(("PASS " if cond else "FAIL ") + what)
for c in clips:
    metrics = json.load(open(f"{b}/out/{c}/metrics.json"))
    runs = {r["label"]: r["summary"] for r in metrics["runs"]}
    off = runs["off"]
    truth = metrics["truth_colourfulness"]
    # The oracle's own bias: the 10 % test against per-frame is only fair while this is small.
    print(f"INFO {c}: per-frame colourfulness {off['colourfulness'] / truth - 1:+.1%} of the truth's")
    for mode in ("recursive", "flow"):
        m = runs[mode]
        cut_w = 1 - m["warp_error"] / off["warp_error"]
        cut_c = 1 - m["cdc"] / off["cdc"]
        col = m["colourfulness"] / off["colourfulness"] - 1
        check(cut_w >= 0.5, f"{c} {mode}: E_warp cut by {cut_w:.1%} (>= 50%)")
        check(cut_c >= 0.5, f"{c} {mode}: CDC cut by {cut_c:.1%} (>= 50%)")
        check(m["ab_error"] < off["ab_error"], f"{c} {mode}: ab error {m['ab_error']:.3f} < per-frame {off['ab_error']:.3f}")
        check(abs(col) <= 0.10, f"{c} {mode}: colourfulness {col:+.1%} of per-frame (within 10%)")
        col_t = m["colourfulness"] / truth - 1
        check(abs(col_t) <= 0.10, f"{c} {mode}: colourfulness {col_t:+.1%} of the truth's (within 10%)")
ghost = dict(re.findall(r"GHOST (\w+) wake ab error ([\d.]+)", open(f"{b}/out/ghost.txt").read()))
for mode in ("recursive", "flow"):
    check(float(ghost[mode]) <= float(ghost["off"]), f"ghosting {mode}: wake ab error {ghost[mode]} <= per-frame {ghost['off']}")
cuts = open(f"{b}/out/cuts.txt").read()
for mode, p, r, carried in re.findall(r"CUTS (\w+) detected .* precision ([\d.]+) recall ([\d.]+), colour carried across (\d+)", cuts):
    check(float(p) >= 0.95 and float(r) >= 0.95, f"cuts {mode}: precision {p}, recall {r} (>= 0.95)")
    check(carried == "0", f"cuts {mode}: colour carried across {carried} cuts")
for mode, pct in re.findall(r"COST (\w+) [\d.]+ ms/frame = ([\d.]+)%", open(f"{b}/out/cost.txt").read()):
    check(float(pct) <= 10, f"cost {mode}: {pct}% of the model's time at S=512 (<= 10%)")
print("all targets met" if ok else "some targets missed")
EOF
