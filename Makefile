# Quick start: `make demo` (set up, build, colorize the samples into out/), `make test`.
SHELL := /bin/bash
PY := .deps/venv/bin/python
# The test inputs kept in the repository (tests/media/README.md says what each is).
MEDIA := tests/media
HIST := $(MEDIA)/photos/historical
DDCOLOR := target/release/ddcolor

.PHONY: all setup build demo demo-film test lint fuzz test-data bench bench-film bench-temporal bench-workflows bench-memory bench-serve soak workflow-crops models clean

all: build

setup:
	@scripts/setup.sh

models: setup

# The runner, and the plugin as a shared library (target/release/libgstddcolor.so) for
# gst-launch-1.0 users (GST_PLUGIN_PATH=target/release).
build: setup
	cargo build --release --locked -p ddcolor -p gst-plugin-ddcolor

demo: build
	@mkdir -p out
	$(DDCOLOR) batch samples out --overwrite
	@echo
	@echo "Colorized samples are in $(CURDIR)/out/ (inputs: samples/)."

# A film: the archival sample in tests/media, with PNG frames beside it.
demo-film: build
	@mkdir -p out
	$(DDCOLOR) film $(MEDIA)/film/a-bomb_blast_effects_part.mp4 out/a-bomb_color.mp4 --overwrite --input-size 256 --frames out/a-bomb_frames
	@echo "Colorized film: $(CURDIR)/out/a-bomb_color.mp4 (frames in out/a-bomb_frames/)."

# Reference values from OpenCV and the Python reference recipe, rebuilt when their scripts or the
# historical photos change (from scratch, so no photo that has gone stays behind).
TESTDATA := tests/data
test-data: setup $(TESTDATA)/lab/manifest.json $(TESTDATA)/recipe/.done

$(TESTDATA)/lab/manifest.json: tests/reference/lab_reference.py tests/requirements.txt $(HIST) $(wildcard $(HIST)/*)
	rm -rf $(TESTDATA)/lab
	$(PY) tests/reference/lab_reference.py $(TESTDATA)/lab --photos $(HIST)

$(TESTDATA)/recipe/.done: tests/reference/recipe.py $(TESTDATA)/lab/manifest.json models/gen_test_models.py
	rm -rf $(TESTDATA)/recipe
	$(PY) tests/reference/recipe.py --model models/generated/test-dynamic.onnx --input-size 512 --out-dir $(TESTDATA)/recipe/test-dynamic/orig $(HIST)/*
	$(PY) tests/reference/recipe.py --model models/generated/test-dynamic.onnx --input-size 512 --out-dir $(TESTDATA)/recipe/test-dynamic/png $(TESTDATA)/lab/photos/*.png
	$(PY) tests/reference/recipe.py --model models/generated/test-256.onnx --out-dir $(TESTDATA)/recipe/test-256/orig $(HIST)/*
	$(PY) tests/reference/recipe.py --model models/generated/test-dynamic.onnx --input-size 512 --out-dir $(TESTDATA)/recipe/test-dynamic/crops $(TESTDATA)/lab/crops/*.png
	touch $@

# DDCOLOR_REQUIRE_NVRTC: the set-up installed NVRTC, so the kernel compile test must not skip.
# test-hooks: the hooks that simulate running out of GPU memory and starved workers, compiled
# into the test builds only. Formatting and clippy's warnings fail the run as a test would.
test: setup test-data lint
	DDCOLOR_REQUIRE_NVRTC=1 cargo test --workspace --locked --features ddcolor/test-hooks,gst-plugin-ddcolor/test-hooks

# Fuzzing (stable toolchain, no cargo-fuzz): `make test` already runs every target for a short,
# fixed-seed budget; this runs them for FUZZ_SECONDS in all (default 600, split evenly over the
# 7 targets), one at a time at low priority, with a new seed each run (FUZZ_SEED=N repeats one).
# Each target prints its runs, runs per second and findings; a crashing, hanging, slow or
# memory-hungry input is saved under target/fuzz-crashes/TARGET/ with the command that replays
# it. Kept regressions live in tests/fuzz/regressions/TARGET/ and are replayed by every run.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := 7
fuzz:
	cargo build --locked --tests -p ddcolor-fuzz -p ddcolor
	seed=$${FUZZ_SEED:-$$(date +%s)}; per=$$(( $(FUZZ_SECONDS) / $(FUZZ_TARGETS) )); \
	echo "fuzz: seed $$seed, $$per s per target"; status=0; \
	FUZZ_SEED=$$seed FUZZ_SECONDS=$$per nice -n 19 cargo test --locked -p ddcolor-fuzz --test fuzz -- --test-threads=1 --nocapture || status=1; \
	FUZZ_SEED=$$seed FUZZ_SECONDS=$$per nice -n 19 cargo test --locked -p ddcolor --bin ddcolor matroska_tags -- --test-threads=1 --nocapture || status=1; \
	FUZZ_SEED=$$seed FUZZ_SECONDS=$$per nice -n 19 cargo test --locked -p ddcolor --bin ddcolor upload_zip -- --test-threads=1 --nocapture || status=1; \
	exit $$status

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked --features ddcolor/test-hooks -- -D warnings

bench: build
	scripts/bench.sh

bench-film: build
	scripts/bench-film.sh

# Temporal smoothing: flickering oracle, ghosting, scene cuts, archival film, cost (figures and
# PASS/FAIL against issue 4's targets; outputs and plots under target/bench-temporal/).
bench-temporal: build
	scripts/bench-temporal.sh

# Workflows: chroma upsampling on the Kodak set (nearest, bilinear, edge-aware: CIEDE2000 table),
# and the presets against the plain recipe with the model played by a flawed oracle.
bench-workflows: setup
	UPSAMPLE_SIZES=128,256,512 cargo bench --locked -p ddcolor-engine --bench upsample
	cargo bench --locked -p ddcolor-engine --bench workflows

# Memory over thousands of items in one process: film frames and photos with RSS sampled,
# figures and PASS/FAIL on flatness (inputs and samples under target/soak/; counts: SOAK_* in
# scripts/soak.sh).
soak: setup
	scripts/soak.sh

# How ONNX Runtime keeps host memory between photos: each engine mode's peak and held RSS and
# time, side by side (bench model at S=512 and 1280; logs under target/bench-memory/).
bench-memory: setup
	scripts/bench-memory.sh

# The web app under load: 20 concurrent uploads of 5 photos and 200 open event streams on one
# `ddcolor serve` with the test model; upload latency, nothing lost, every stream ended, the
# server's RSS and descriptors, the model's idle time between jobs, photos/s (figures printed;
# exits non-zero only when something was lost or left open).
bench-serve: build
	$(PY) scripts/serve_load.py --bin $(DDCOLOR)

# Before/after crops of the presets, as PNGs under target/workflow-crops/.
workflow-crops: build
	scripts/workflow-crops.sh

clean:
	cargo clean
	rm -rf out $(TESTDATA) models/generated
