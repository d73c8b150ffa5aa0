#!/usr/bin/env bash
# Before/after crops of the workflow presets (`make workflow-crops`), written to
# target/workflow-crops/:
#   - historical photos (tests/media/photos/historical): the plain model vs the preset, with
#     the generated test model. Its weights are random (real DDColor weights cannot be downloaded
#     here) and it paints everything magenta, so the colours mean nothing: look at what the preset
#     does to them (faces pulled out of magenta towards skin, crisper brick and stone).
#   - Kodak photos with known colour (tests/media/photos/kodak), the model played by the oracle
#     of the `workflows` bench (true colour plus DDColor-like flaws): truth, plain, preset. That
#     bench reads the Kodak photos from ../shared/media/photos/kodak.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/media.sh
out=target/workflow-crops
mkdir -p "$out/full"
bin=target/release/ddcolor
py=.deps/venv/bin/python
model=models/generated/test-dynamic.onnx
hist=$(dirname "$(media photos/historical/1870Girl.jpg)")
kodak=$(dirname "$(media photos/kodak/kodim01.png)")

run() { # NAME PHOTO WORKFLOW
    "$bin" photo "$hist/$2" -o "$out/full/$1_plain.png" --model "$model" --input-size 512 --no-metadata
    "$bin" photo "$hist/$2" -o "$out/full/$1_$3.png" --model "$model" --workflow "$3" --input-size 512 --no-metadata
}
run girl 1870Girl.jpg portrait
run chicago 1909Chicago.jpg building
"$py" scripts/workflow_crops.py "$out/portrait_1870Girl.png" --crop 190,120,260,260 --scale 2 \
    "plain model=$out/full/girl_plain.png" "portrait preset=$out/full/girl_portrait.png"
"$py" scripts/workflow_crops.py "$out/building_1909Chicago.png" --crop 300,150,300,220 --scale 2 \
    "plain model=$out/full/chicago_plain.png" "building preset=$out/full/chicago_building.png"

WORKFLOW_BENCH_OUT="$PWD/$out/full" cargo bench --locked -q -p ddcolor-engine --bench workflows
"$py" scripts/workflow_crops.py "$out/portrait_kodim04_oracle.png" --crop 250,120,260,260 --scale 2 \
    "truth=$kodak/kodim04.png" "plain (flawed oracle)=$out/full/kodim04_plain.png" \
    "portrait preset=$out/full/kodim04_portrait.png"
"$py" scripts/workflow_crops.py "$out/building_kodim01_oracle.png" --crop 300,100,260,260 --scale 2 \
    "truth=$kodak/kodim01.png" "plain (flawed oracle)=$out/full/kodim01_plain.png" \
    "building preset=$out/full/kodim01_building.png"
echo "crops in $out/"
ls "$out"/*.png
