#!/usr/bin/env bash
# Installs what ddcolor needs to build, run and test, into the repository's ignored .deps/:
#   - Debian packages (only those missing; needs root or sudo on a fresh machine),
#   - a Python venv with numpy, OpenCV, onnx and onnxruntime (test models, reference checks),
#   - the ONNX Runtime shared library, taken from the PyPI `onnxruntime` wheel,
#   - NVRTC (the CUDA kernels' compiler, PyPI `nvidia-cuda-nvrtc`), linked into .deps/nvrtc,
#   - the small generated test and benchmark models in models/generated/.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
deps=$root/.deps
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. System packages: a C toolchain, Python, and GStreamer 1.22 (headers for the element, the
#    tools, and the codecs `ddcolor film` uses: x264 in -ugly, FFV1/AAC in -libav, VP9 in -good),
#    the DejaVu Sans font `ddcolor metrics --plot` writes its charts with, and exiftool, the
#    independent reader tests/provenance.rs checks the embedded provenance with, and procps, whose
#    `kill` the tests stop runs with (SIGTERM, SIGINT; minimal images lack it), and Chromium with
#    its WebDriver, the real browser the web app's end-to-end test drives, and openssl, which
#    makes the certificate the web app's TLS test serves.
want=(gcc libc6-dev pkg-config python3 python3-venv procps
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      gstreamer1.0-plugins-ugly gstreamer1.0-libav fonts-dejavu-core libimage-exiftool-perl
      chromium chromium-driver openssl)
need=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing Debian packages: ${need[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "error: cargo (Rust >= 1.92) is required: install it with rustup (https://rustup.rs)" >&2
    exit 1
fi

# 2. Python venv for the test helpers.
req=$root/tests/requirements.txt
stamp=$deps/venv/.requirements
if [ ! -x "$deps/venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
    say "creating the Python venv in .deps/venv (numpy, opencv, onnx, onnxruntime)"
    mkdir -p "$deps"
    python3 -m venv "$deps/venv"
    "$deps/venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi

# 3. The ONNX Runtime library, from the same PyPI wheel (never committed).
ort_dir=$deps/onnxruntime
if [ ! -e "$ort_dir/libonnxruntime.so" ]; then
    capi=$("$deps/venv/bin/python" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')
    lib=$(ls "$capi"/libonnxruntime.so.* | head -n 1)
    say "installing ONNX Runtime $(basename "$lib") into .deps/onnxruntime"
    mkdir -p "$ort_dir"
    cp "$lib" "$ort_dir/"
    ln -sf "$(basename "$lib")" "$ort_dir/libonnxruntime.so"
fi

# 3b. NVRTC (libnvrtc.so.13), from the PyPI wheel, linked into .deps/nvrtc where the engine
# looks for it: the tests compile the CUDA kernels with it, which needs no GPU.
# Linked again whenever a link is missing or broken (a new wheel renames libnvrtc-builtins).
nvrtc_dir=$deps/nvrtc
if [ ! -e "$nvrtc_dir/libnvrtc.so.13" ] || [ -n "$(find "$nvrtc_dir" -xtype l 2>/dev/null)" ]; then
    lib=$("$deps/venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
    say "linking NVRTC from $lib into .deps/nvrtc"
    rm -rf "$nvrtc_dir"
    mkdir -p "$nvrtc_dir"
    ln -sf "$lib"/libnvrtc* "$nvrtc_dir/"
fi

# 4. Generated models (deterministic; regenerated when the generator changes).
gen=$root/models/gen_test_models.py
gen_stamp=$root/models/generated/.generator.sha256
if [ ! -f "$gen_stamp" ] || [ "$(sha256sum "$gen" | cut -d' ' -f1)" != "$(cat "$gen_stamp")" ]; then
    say "generating test and benchmark models in models/generated"
    mkdir -p "$root/models/generated"
    "$deps/venv/bin/python" "$gen" "$root/models/generated" >/dev/null
    sha256sum "$gen" | cut -d' ' -f1 > "$gen_stamp"
fi
say "ready: ONNX Runtime in .deps/onnxruntime, Python helpers in .deps/venv, test models in models/generated"
