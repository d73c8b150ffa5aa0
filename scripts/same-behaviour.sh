#!/usr/bin/env bash
# Why: a refactor that is meant to change no behaviour has to be shown to change none. This runs
# one `ddcolor` binary over a fixed set of jobs (the reference-recipe photos of tests/reference.rs,
# a batch of samples/, an archival film with --lossless, the workflow presets and the styles) and
# writes OUT_DIR/SHA256SUMS. Run it with the binary from before the refactor and with the one from
# after, into two folders, and `diff` the two SHA256SUMS: identical sums mean byte-identical
# results, provenance metadata included (it records the tool version and the model's SHA-256,
# and no time).
#
# Usage: scripts/same-behaviour.sh BIN OUT_DIR
#   BIN      the ddcolor binary to test (e.g. target/release/ddcolor, or a saved copy)
#   OUT_DIR  a new or empty folder for the results
# Environment:
#   ORT_DYLIB_PATH  ONNX Runtime library (default: .deps/onnxruntime/libonnxruntime.so here),
#                   set so that a copied binary finds the same library as the built one.
#   MODELS_DIR      folder with the generated test models (default: models/generated). The
#                   models are generated (fixed seeds); if `make setup` regenerates them, point
#                   this at a saved copy of the ones the baseline used: the results record the
#                   model's SHA-256, so another file changes every sum.
#
# Inputs: all 35 historical photos (as tests/reference.rs) and the archival film, each taken from
# tests/media/ where the repository has a copy and from ../shared/media/ otherwise (tests/media
# holds a subset; the copies are the same files), so the set does not change when the
# repository's copies do. What was used (inputs by name, models, the ONNX Runtime library, BIN
# itself) is listed in OUT_DIR/INPUTS.SHA256SUMS to explain a difference; it is not part of
# SHA256SUMS. Logs (with timings) go to OUT_DIR/logs/.
#
# Non-determinism found and how it is handled:
#   - The film's Matroska container differs between two runs of the same binary in three fields
#     only: matroskamux writes a random SegmentUID and TrackUID and the current time as DateUTC.
#     The script sets exactly those three fields to fixed values (each to 1, DateUTC to 2001-01-01
#     00:00:00.000000001; walking the EBML structure, nothing else touched: the file still plays)
#     and keeps the result as film/a-bomb.uids-fixed.mkv; the FFV1 frames, timestamps, tags and
#     everything else in the file are compared byte for byte. The --frames PNGs are compared as
#     written.
#   - Everything else (PNG, JPEG and WebP results with their XMP/text provenance, the batch
#     marker file, `ddcolor workflows` output) was the same byte for byte over repeated runs.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN OUT_DIR" >&2
    exit 2
fi
bin=$(realpath "$1")
[ -x "$bin" ] || { echo "$1: not an executable" >&2; exit 2; }
mkdir -p "$2"
out=$(realpath "$2")
if [ -n "$(ls -A "$out")" ]; then
    echo "$out: not empty (results already there would be skipped or refused)" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.deps/onnxruntime/libonnxruntime.so}
models=$(realpath "${MODELS_DIR:-models/generated}")
dynamic=$models/test-dynamic.onnx
fixed256=$models/test-256.onnx
for f in "$ORT_DYLIB_PATH" "$dynamic" "$fixed256"; do
    [ -f "$f" ] || { echo "$f: missing (run make setup)" >&2; exit 2; }
done

# A media file by its path under the media root: the repository's copy, else the shared one.
media_roots=("$root/tests/media" "$(realpath -m ../shared/media)")
media() {
    local r
    for r in "${media_roots[@]}"; do
        [ -f "$r/$1" ] && { printf '%s\n' "$r/$1"; return; }
    done
    echo "$1: in neither ${media_roots[*]}" >&2
    return 1
}
# The historical photos, as tests/reference.rs lists them (files, sorted), from both places.
mapfile -t names < <(for r in "${media_roots[@]}"; do
    [ -d "$r/photos/historical" ] && find "$r/photos/historical" -maxdepth 1 -type f \
        ! -name '*.f32' ! -name '*.u8' -printf '%f\n'
done | LC_ALL=C sort -u)
if [ "${#names[@]}" -ne 35 ]; then
    echo "expected the 35 historical photos in ${media_roots[*]}, found ${#names[@]}" >&2
    exit 2
fi
photos=()
for n in "${names[@]}"; do photos+=("$(media "photos/historical/$n")"); done
film=$(media film/a-bomb_blast_effects_part.mp4)

logs=$out/logs
mkdir -p "$logs"
step() {
    local name=$1
    shift
    echo "== $name" >&2
    if ! "$@" >"$logs/$name.log" 2>&1; then
        echo "$name failed; see $logs/$name.log" >&2
        tail -5 "$logs/$name.log" >&2
        exit 1
    fi
}

# a. The reference-recipe photos, as tests/reference.rs makes them (PNG, nearest upsampling):
#    the dynamic model at S=512 and the fixed 256 model.
step reference-dynamic-512 "$bin" photo "${photos[@]}" --upsample nearest --format png \
    -o "$out/reference/test-dynamic-512" --model "$dynamic" --input-size 512
step reference-256 "$bin" photo "${photos[@]}" --upsample nearest --format png \
    -o "$out/reference/test-256" --model "$fixed256"

# b. A batch of samples/ (JPEG and PNG results, the tree mirrored, the resume marker).
step batch "$bin" batch samples "$out/batch" --model "$dynamic"

# c. The archival film as a lossless master (FFV1 in .mkv) at S=256, with its frames as PNGs.
step film "$bin" film "$film" "$out/film/a-bomb.mkv" --lossless --input-size 256 \
    --model "$dynamic" --frames "$out/film/frames"
python3 - "$out/film/a-bomb.mkv" <<'EOF'
# Sets SegmentUID (73A4), TrackUID (73C5) and DateUTC (4461), random or the time, to 1 (a UID of
# 0 is invalid: matroskademux drops the track).
import sys

VOLATILE = {0x73A4, 0x73C5, 0x4461}
# Masters on the way to them: Segment, Info, Tracks, TrackEntry.
MASTERS = {0x18538067, 0x1549A966, 0x1654AE6B, 0xAE}

def vint(b, i, keep_marker):
    first = b[i]
    n = 1
    while n <= 8 and not first & (0x80 >> (n - 1)):
        n += 1
    if n > 8:
        raise SystemExit("bad EBML length at %d" % i)
    v = first if keep_marker else first & (0xFF >> n)
    for k in range(1, n):
        v = (v << 8) | b[i + k]
    unknown = not keep_marker and v == (1 << (7 * n)) - 1
    return v, n, unknown

path = sys.argv[1]
data = bytearray(open(path, "rb").read())
found = set()

def walk(start, end):
    i = start
    while i < end:
        eid, n, _ = vint(data, i, True)
        size, m, unknown = vint(data, i + n, False)
        body = i + n + m
        stop = end if unknown else body + size
        if eid in VOLATILE:
            data[body:stop] = (1).to_bytes(stop - body, "big")
            found.add(eid)
        elif eid in MASTERS:
            walk(body, stop)
        i = stop

walk(0, len(data))
if found != VOLATILE:
    raise SystemExit("%s: expected SegmentUID, TrackUID and DateUTC, found %s"
                     % (path, sorted(hex(z) for z in found)))
open(path, "wb").write(data)
EOF
mv "$out/film/a-bomb.mkv" "$out/film/a-bomb.uids-fixed.mkv"

# d. The workflow presets and the styles, each on two photos (results in the input's format, JPEG
#    here), and a preset run from its JSON file.
pick() { media "photos/historical/$1"; }
step workflow-portrait "$bin" photo "$(pick 1870Girl.jpg)" "$(pick WaltWhitman.jpg)" \
    --workflow portrait -o "$out/workflow/portrait" --model "$dynamic"
step workflow-building "$bin" photo "$(pick 1880sBrooklynBridge.jpg)" "$(pick AnselAdamsChurch.jpg)" \
    --workflow building -o "$out/workflow/building" --model "$dynamic"
step style-vintage "$bin" photo "$(pick abe.jpg)" "$(pick FadedSphynx.PNG)" \
    --style vintage -o "$out/style/vintage" --model "$dynamic"
step style-modern "$bin" photo "$(pick 1888Slum.jpg)" "$(pick FadedDelores.PNG)" \
    --style modern -o "$out/style/modern" --model "$dynamic"
step run-portrait-json "$bin" run workflows/portrait.json --input "$(pick marktwain.jpg)" \
    -o "$out/workflow/run-portrait-json" --model "$dynamic"
"$bin" workflows >"$out/workflows.txt"
"$bin" workflows --nodes >"$out/workflows-nodes.txt"

# What went in, to explain a difference (not compared).
{
    sha256sum "$bin" | sed "s|  .*|  BIN|"
    sha256sum "$ORT_DYLIB_PATH" | sed "s|  .*|  ORT_DYLIB_PATH|"
    (cd "$models" && sha256sum test-dynamic.onnx test-256.onnx | sed 's|  |  models/|')
    for f in "${photos[@]}" "$film"; do
        sha256sum "$f" | sed -E 's#  .*/(photos/historical/[^/]*|film/[^/]*)$#  media/\1#'
    done
    (cd samples && find . -type f | LC_ALL=C sort | xargs sha256sum | sed 's|  \./|  samples/|')
} >"$out/INPUTS.SHA256SUMS"

(cd "$out" && find . -type f ! -path ./logs/'*' ! -name SHA256SUMS ! -name INPUTS.SHA256SUMS \
    | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum) >"$logs/SHA256SUMS.tmp"
mv "$logs/SHA256SUMS.tmp" "$out/SHA256SUMS"
echo "$(wc -l <"$out/SHA256SUMS") sums in $out/SHA256SUMS" >&2
