#!/usr/bin/env bash
# How ONNX Runtime keeps host memory between photos (`make bench-memory`): every mode of the
# engine's `CpuMemory` (engine/src/inference/model.rs) side by side, one process per mode and
# round, the modes interleaved within each round (the machine is shared and its speed drifts),
# each process colorizing photos with S alternating between sizes. Prints per mode the medians
# over the rounds of: the peak RSS (VmHWM), the RSS held between photos after the warm-up (every
# photo and every S once), the time per photo after the warm-up, and their ratios to `arena`
# (ONNX Runtime's own defaults, which the engine used before).
#
#   1. models/generated/bench.onnx (a DDColor-sized graph), S = MEMBENCH_SIZES (512,1280),
#      MEMBENCH_COUNT photos per process (4; 0 skips it), MEMBENCH_ROUNDS rounds (2): the
#      memory question;
#      at S=1280 a photo takes about half a minute on 2 cores and several GB.
#   2. the same at one S, MEMBENCH_FIXED_SIZE (512), MEMBENCH_FIXED_COUNT photos (6; 0 skips
#      it): a batch at a fixed size, or a film;
#   3. models/generated/test-dynamic.onnx (a tiny graph), S = 256,512, MEMBENCH_SMALL_COUNT
#      photos (60; 0 skips it), same rounds: what each mode costs per model call when the model
#      is fast, where the allocator's own work is no longer hidden by the model's. The photos: a 4764x3759 scan and a 1500x1101 one from
# tests/media, in turn. Logs under target/bench-memory/.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${MEMBENCH_SIZES:-512,1280}
COUNT=${MEMBENCH_COUNT:-4}
ROUNDS=${MEMBENCH_ROUNDS:-2}
SMALL_COUNT=${MEMBENCH_SMALL_COUNT:-60}
FIXED_SIZE=${MEMBENCH_FIXED_SIZE:-512}
FIXED_COUNT=${MEMBENCH_FIXED_COUNT:-6}
MODES=(arena arena-shrink arena-shrink-on-change no-arena no-arena-trim)
OUT=target/bench-memory
H=tests/media/photos/historical
PHOTOS=("$H/1860Girls.jpg" "$H/covered-wagons-traveling.jpg")
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.deps/onnxruntime/libonnxruntime.so}

cargo build --release --locked -p ddcolor -p gst-plugin-ddcolor -p ddcolor-engine --example memory_bench
BENCH=target/release/examples/memory_bench
mkdir -p "$OUT"

# table NAME MODEL SIZES COUNT: the rounds, then the table.
table() {
    local name=$1 model=$2 sizes=$3 count=$4
    local log=$OUT/$name.log
    : >"$log"
    echo
    echo "== $name: $model, S=$sizes in turn, $count photos per process, $ROUNDS rounds"
    for r in $(seq 1 "$ROUNDS"); do
        for m in "${MODES[@]}"; do
            "$BENCH" "$model" --mode "$m" --sizes "$sizes" --count "$count" "${PHOTOS[@]}" \
                >"$OUT/$name-$m-$r.log" 2>&1 || { cat "$OUT/$name-$m-$r.log"; exit 1; }
            line=$(grep '^RESULT' "$OUT/$name-$m-$r.log")
            echo "round $r $line" | tee -a "$log"
        done
    done
    echo
    awk -v modes="${MODES[*]}" '
        function field(line, key,   i, n, kv) {
            n = split(line, kv, " ")
            for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
        }
        function median(list,   v, n, i, j, t) {
            n = split(list, v, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        {
            m = field($0, "mode")
            peak[m] = peak[m] " " field($0, "peak_mb")
            held[m] = held[m] " " field($0, "held_mb")
            secs[m] = secs[m] " " field($0, "s_per_photo")
            runs[m] = runs[m] " " field($0, "s_per_run")
            cpus[m] = cpus[m] " " field($0, "cpu_s_per_photo")
            rise[m] = rise[m] " " (field($0, "peak_mb") - field($0, "peak_warm_mb"))
        }
        END {
            printf "%-22s %8s %8s %8s %8s %8s %7s | %5s %5s %6s %6s %6s\n", "mode", "peak MB", "held MB", "s/photo", "s/model", "cpu s", "pk rise", "peak", "held", "photo", "model", "cpu"
            n = split(modes, ms, " ")
            bp = median(peak["arena"]); bh = median(held["arena"]); bs = median(secs["arena"]); br = median(runs["arena"]); bc = median(cpus["arena"])
            for (i = 1; i <= n; i++) {
                m = ms[i]; p = median(peak[m]); h = median(held[m]); s = median(secs[m]); r = median(runs[m]); c = median(cpus[m])
                printf "%-22s %8.0f %8.0f %8.3f %8.3f %8.3f %7.0f | %5.2f %5.2f %6.3f %6.3f %6.3f\n", m, p, h, s, r, c, median(rise[m]), p / bp, h / bh, s / bs, r / br, c / bc
            }
        }' "$log"
}

if [ "$COUNT" -gt 0 ]; then
    table bench models/generated/bench.onnx "$SIZES" "$COUNT"
fi
if [ "$FIXED_COUNT" -gt 0 ]; then
    table bench-fixed models/generated/bench.onnx "$FIXED_SIZE" "$FIXED_COUNT"
fi
if [ "$SMALL_COUNT" -gt 0 ]; then
    table small models/generated/test-dynamic.onnx 256,512 "$SMALL_COUNT"
fi
echo
echo "peak: the process's VmHWM at the end; held: the largest VmRSS between photos after the"
echo "warm-up (every photo and every S once); s/photo: a photo's time after the warm-up"
echo "(pre-processing, model, recombination);"
echo "s/model: the model call's alone; cpu s: CPU seconds per photo, all threads (steadier than"
echo "the clock on a shared machine, and where page faults show); pk rise: the peak at the end over the peak after the"
echo "warm-up (MB); right of |: ratios to arena. Medians of $ROUNDS rounds."
