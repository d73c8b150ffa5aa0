#!/usr/bin/env python3
"""Generate deterministic stand-in ONNX models that follow the DDColor contract.

The DDColor ONNX contract
-------------------------
* one input named ``input``: float32 ``[N, 3, S, S]``, a grey RGB image in
  [0, 1] (R = G = B).  ImageNet mean/std normalisation happens inside the graph.
* one output named ``output``: float32 ``[N, 2, S, S]``, the a and b channels
  of CIE Lab on OpenCV's float scale (roughly -128..127).
* S is a multiple of 32.  Exports are fixed-shape, have dynamic H/W, or have a
  dynamic batch axis.

The weights are random (fixed seeds), so the colours these models produce are
meaningless; they only exist so that the tool and its tests can run without
downloading the real ~900 MB network.

Models written
--------------
test-256.onnx          fixed   [1,3,256,256]        -> [1,2,256,256]
test-512.onnx          fixed   [1,3,512,512]        -> [1,2,512,512]
test-dynamic.onnx      dynamic [1,3,height,width]   -> [1,2,height,width]
test-batch.onnx        dynamic [batch,3,256,256]    -> [batch,2,256,256]
bench.onnx             dynamic [batch,3,height,width] ConvNeXt-T encoder plus a
                       DDColor-shaped decoder; costs about what the real
                       DDColor-tiny costs on a CPU (realistic timings).
bad-output-channels.onnx  output [1,3,256,256]
bad-input-name.onnx       input named "image"
bad-input-type.onnx       input uint8 [1,3,256,256]
bad-rank.onnx             input [1,256,256] (rank 3)

Usage
-----
    python models/gen_test_models.py OUT_DIR [--only NAME ...] [--check] [--time]

Every run produces byte-identical files; a file whose content would not change
is left untouched (its mtime too).  ``--check`` loads each selected model in
onnxruntime, runs it once and prints the spatial std-dev of the output;
``--time`` additionally times bench.onnx at 256 and 512.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # IR 8 is the IR of opset 17; every onnxruntime >= 1.14 loads it
PRODUCER = "ddcolor-gen-test-models"
PRODUCER_VERSION = "1"

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


# --------------------------------------------------------------------------
# A tiny graph builder on top of onnx.helper
# --------------------------------------------------------------------------
class Graph:
    def __init__(self, name: str):
        self.name = name
        # Stable seed from the model name (never Python's salted hash()).
        self.rng = np.random.default_rng(zlib.crc32(name.encode()) ^ 0x0DDC0102)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def uid(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    # -- constants / weights ------------------------------------------------
    def const(self, arr, prefix: str = "c") -> str:
        arr = np.asarray(arr)
        name = self.uid(prefix)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def randn(self, shape, std: float, prefix: str = "w") -> str:
        w = self.rng.standard_normal(size=shape, dtype=np.float32) * np.float32(std)
        return self.const(w.astype(np.float32), prefix)

    # -- nodes ----------------------------------------------------------------
    def op(self, op_type: str, inputs, n_out: int = 1, **attrs):
        base = self.uid(op_type.lower())
        outs = [base] if n_out == 1 else [f"{base}_o{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k, stride=1, pad=0, group=1, std=None, bias=True, bias_std=0.0):
        fan_in = (cin // group) * k * k
        if std is None:
            std = math.sqrt(2.0 / fan_in)  # He init: keeps ReLU stacks O(1)
        w = self.randn((cout, cin // group, k, k), std, "conv_w")
        ins = [x, w]
        if bias:
            if bias_std:
                ins.append(self.randn((cout,), bias_std, "conv_b"))
            else:
                ins.append(self.const(np.zeros((cout,), np.float32), "conv_b"))
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride],
                       pads=[pad, pad, pad, pad], group=group)

    def normalize_imagenet(self, x):
        x = self.op("Sub", [x, self.const(IMAGENET_MEAN, "mean")])
        return self.op("Div", [x, self.const(IMAGENET_STD, "std")])

    def scale(self, x, s: float):
        return self.op("Mul", [x, self.const(np.array(s, np.float32), "scale")])

    def resize_like(self, x, ref):
        """Bilinear Resize of x ([N,C,h,w]) to ref's runtime H,W."""
        nc = self.op("Shape", [x], start=0, end=2)
        hw = self.op("Shape", [ref], start=2, end=4)
        sizes = self.op("Concat", [nc, hw], axis=0)
        return self.op("Resize", [x, "", "", sizes], mode="linear",
                       coordinate_transformation_mode="half_pixel")

    # LayerNorm over the channel axis of an NCHW tensor (ConvNeXt
    # "channels_first" LayerNorm): transpose to NHWC, LayerNormalization on the
    # last axis, transpose back.
    def ln_nhwc(self, x_nhwc, c, eps=1e-6):
        g = self.const(np.ones((c,), np.float32), "ln_g")
        b = self.const(np.zeros((c,), np.float32), "ln_b")
        return self.op("LayerNormalization", [x_nhwc, g, b], axis=-1, epsilon=eps)

    def ln_channels_first(self, x, c, eps=1e-6):
        t = self.op("Transpose", [x], perm=[0, 2, 3, 1])
        t = self.ln_nhwc(t, c, eps)
        return self.op("Transpose", [t], perm=[0, 3, 1, 2])

    def linear(self, x, cin, cout, std):
        y = self.op("MatMul", [x, self.randn((cin, cout), std, "fc_w")])
        return self.op("Add", [y, self.const(np.zeros((cout,), np.float32), "fc_b")])

    def gelu(self, x):
        # Exact GELU via Erf (what torch.onnx emits at opset 17); onnxruntime
        # fuses this pattern into its Gelu kernel.
        e = self.op("Erf", [self.op("Div", [x, self.const(np.array(math.sqrt(2.0), np.float32), "sqrt2")])])
        e = self.op("Add", [e, self.const(np.array(1.0, np.float32), "one")])
        y = self.op("Mul", [x, e])
        return self.op("Mul", [y, self.const(np.array(0.5, np.float32), "half")])

    # -- model ------------------------------------------------------------------
    def model(self, inputs, outputs, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name.replace("-", "_"), inputs, outputs,
                                  initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
                              doc_string=doc)
        m.ir_version = IR_VERSION
        helper.set_model_props(m, {"ddcolor_contract": "input=float32[N,3,S,S] grey RGB 0..1; "
                                                      "output=float32[N,2,S,S] Lab ab",
                                   "ddcolor_variant": "generated-" + self.name,
                                   "note": "random weights; colours are meaningless"})
        return m


def vi(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


# --------------------------------------------------------------------------
# Small "test" models
# --------------------------------------------------------------------------
def small_body(g: Graph, x: str, out_channels: int = 2) -> str:
    """Cheap content-dependent colouriser: float [N,3,H,W] in 0..1 -> [N,C,H,W]."""
    xn = g.normalize_imagenet(x)
    h = g.op("Relu", [g.conv(xn, 3, 8, 4, stride=4, std=0.35, bias_std=0.3)])        # S/4
    h = g.op("Tanh", [g.conv(h, 8, 8, 3, stride=2, pad=1, std=0.25, bias_std=0.3)])  # S/8
    h = g.conv(h, 8, out_channels, 1, std=0.16, bias_std=0.05)                        # S/8
    up = g.resize_like(h, x)                                                         # S
    return g.scale(g.op("Tanh", [up]), 110.0)


def build_small(name: str, in_shape, out_shape, in_name="input", in_type=TensorProto.FLOAT,
                out_channels=2, pre=None) -> onnx.ModelProto:
    g = Graph(name)
    x = in_name
    if pre is not None:
        x = pre(g, x)
    y = small_body(g, x, out_channels)
    g.nodes.append(helper.make_node("Identity", [y], ["output"], name="output_identity"))
    doc = f"DDColor-contract stand-in '{name}' (random weights, colours meaningless)."
    return g.model([vi(in_name, in_type, in_shape)], [vi("output", TensorProto.FLOAT, out_shape)], doc)


def pre_uint8(g: Graph, x: str) -> str:
    f = g.op("Cast", [x], to=TensorProto.FLOAT)
    return g.op("Mul", [f, g.const(np.array(1.0 / 255.0, np.float32), "inv255")])


def pre_rank3(g: Graph, x: str) -> str:
    u = g.op("Unsqueeze", [x, g.const(np.array([1], np.int64), "axes")])   # [1,1,H,W]
    return g.op("Concat", [u, u, u], axis=1)                                # [1,3,H,W]


# --------------------------------------------------------------------------
# bench.onnx: ConvNeXt-T encoder + DDColor-shaped decoder
# --------------------------------------------------------------------------
BENCH_DEPTHS = [3, 3, 9, 3]
BENCH_DIMS = [96, 192, 384, 768]
# Decoder knobs (the encoder is fixed to ConvNeXt-T).  DDColor itself uses
# nf=512, a 256-channel full-resolution pixel embedding and 100 colour queries;
# nf=576 makes up for the 9-layer query transformer that is left out, so that
# the total lands near DDColor-tiny's CPU cost (about 0.23 s at 256 and 0.94 s
# at 512 with 2 threads on the reference machine).
BENCH_NF = 576
BENCH_EMBED = 256
BENCH_QUERIES = 100
BENCH_OUT_SCALE = 100.0


def convnext_block(g: Graph, x, c):
    dw = g.conv(x, c, c, 7, pad=3, group=c, std=0.02)
    t = g.op("Transpose", [dw], perm=[0, 2, 3, 1])           # NHWC
    t = g.ln_nhwc(t, c)
    t = g.linear(t, c, 4 * c, 0.02)
    t = g.gelu(t)
    t = g.linear(t, 4 * c, c, 0.02)
    t = g.op("Mul", [t, g.const(np.full((c,), 1.0, np.float32), "layer_scale")])
    t = g.op("Transpose", [t], perm=[0, 3, 1, 2])           # NCHW
    return g.op("Add", [x, t])


def pixel_shuffle_up(g: Graph, x, cin, cout, scale, blur, bn=False):
    """DDColor's CustomPixelShuffle_ICNR: 1x1 conv (-> BN) -> ReLU -> PixelShuffle (-> blur)."""
    h = g.conv(x, cin, cout * scale * scale, 1)
    if bn:
        h = batchnorm(g, h, cout * scale * scale, bias=0.0)
    h = g.op("Relu", [h])
    h = g.op("DepthToSpace", [h], blocksize=scale, mode="CRD")
    if blur:  # ReplicationPad2d((1,0,1,0)) + AvgPool2d(2, stride=1)
        pads = g.const(np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64), "pads")
        h = g.op("Pad", [h, pads], mode="edge")
        h = g.op("AveragePool", [h], kernel_shape=[2, 2], strides=[1, 1])
    return h


def batchnorm(g: Graph, x, c, bias=1e-3):
    return g.op("BatchNormalization", [x,
                                       g.const(np.ones((c,), np.float32), "bn_g"),
                                       g.const(np.full((c,), bias, np.float32), "bn_b"),
                                       g.const(np.zeros((c,), np.float32), "bn_m"),
                                       g.const(np.ones((c,), np.float32), "bn_v")], epsilon=1e-5)


def build_bench() -> onnx.ModelProto:
    g = Graph("bench")
    x = "input"
    xn = g.normalize_imagenet(x)

    # ---- encoder: ConvNeXt-T ------------------------------------------------
    h = g.conv(xn, 3, BENCH_DIMS[0], 4, stride=4, std=0.02)
    h = g.ln_channels_first(h, BENCH_DIMS[0])
    feats = []
    for i, (depth, c) in enumerate(zip(BENCH_DEPTHS, BENCH_DIMS)):
        if i > 0:
            h = g.ln_channels_first(h, BENCH_DIMS[i - 1])
            h = g.conv(h, BENCH_DIMS[i - 1], c, 2, stride=2, std=0.02)
        for _ in range(depth):
            h = convnext_block(g, h, c)
        feats.append(g.ln_channels_first(h, c))  # DDColor hooks norm0..norm3

    # ---- decoder: DDColor-style U-Net of pixel-shuffle blocks ---------------
    up = feats[3]
    in_c = BENCH_DIMS[3]
    skips = [(feats[2], BENCH_DIMS[2]), (feats[1], BENCH_DIMS[1]), (feats[0], BENCH_DIMS[0])]
    for j, (skip, skip_c) in enumerate(skips):
        out_c = BENCH_NF if j < len(skips) - 1 else BENCH_NF // 2
        u = pixel_shuffle_up(g, up, in_c, out_c, 2, blur=True, bn=True)
        cat = g.op("Relu", [g.op("Concat", [u, batchnorm(g, skip, skip_c)], axis=1)])
        up = g.op("Relu", [g.conv(cat, out_c + skip_c, out_c, 3, pad=1)])
        in_c = out_c

    # full-resolution pixel embedding (S/4 -> S)
    emb = pixel_shuffle_up(g, up, in_c, BENCH_EMBED, 4, blur=True)
    # colour-query read-out ("bqc,bchw->bqhw" in DDColor) as a 1x1 conv
    q = g.conv(emb, BENCH_EMBED, BENCH_QUERIES, 1, std=1.0 / math.sqrt(BENCH_EMBED))
    # refine net: concat with the normalised image, 1x1 conv to ab
    cat = g.op("Concat", [q, xn], axis=1)
    ab = g.conv(cat, BENCH_QUERIES + 3, 2, 1, std=1.2 / math.sqrt(BENCH_QUERIES + 3), bias_std=0.05)
    y = g.scale(g.op("Tanh", [ab]), BENCH_OUT_SCALE)
    g.nodes.append(helper.make_node("Identity", [y], ["output"], name="output_identity"))

    doc = ("Benchmark stand-in for DDColor-tiny: ConvNeXt-T encoder (depths 3,3,9,3; dims "
           "96..768) and a DDColor-shaped pixel-shuffle decoder.  Random weights; colours "
           "are meaningless, timings are realistic.")
    return g.model([vi("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
                   [vi("output", TensorProto.FLOAT, ["batch", 2, "height", "width"])], doc)


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------
MODELS = {
    "test-256": lambda: build_small("test-256", [1, 3, 256, 256], [1, 2, 256, 256]),
    "test-512": lambda: build_small("test-512", [1, 3, 512, 512], [1, 2, 512, 512]),
    "test-dynamic": lambda: build_small("test-dynamic", [1, 3, "height", "width"],
                                        [1, 2, "height", "width"]),
    "test-batch": lambda: build_small("test-batch", ["batch", 3, 256, 256], ["batch", 2, 256, 256]),
    "bench": build_bench,
    "bad-output-channels": lambda: build_small("bad-output-channels", [1, 3, 256, 256],
                                               [1, 3, 256, 256], out_channels=3),
    "bad-input-name": lambda: build_small("bad-input-name", [1, 3, 256, 256], [1, 2, 256, 256],
                                          in_name="image"),
    "bad-input-type": lambda: build_small("bad-input-type", [1, 3, 256, 256], [1, 2, 256, 256],
                                          in_type=TensorProto.UINT8, pre=pre_uint8),
    "bad-rank": lambda: build_small("bad-rank", [1, 256, 256], [1, 2, 256, 256], pre=pre_rank3),
}

# Shapes used by --check: (input shape, dtype).  Dynamic dims get small valid
# sizes; the std-dev is reported on a 256x256 image wherever the model allows.
CHECK_INPUTS = {
    "test-256": [((1, 3, 256, 256), np.float32)],
    "test-512": [((1, 3, 512, 512), np.float32)],
    "test-dynamic": [((1, 3, 256, 256), np.float32), ((1, 3, 32, 32), np.float32),
                     ((1, 3, 64, 96), np.float32)],
    "test-batch": [((1, 3, 256, 256), np.float32), ((3, 3, 256, 256), np.float32)],
    "bench": [((1, 3, 64, 64), np.float32), ((2, 3, 32, 64), np.float32)],
    "bad-output-channels": [((1, 3, 256, 256), np.float32)],
    "bad-input-name": [((1, 3, 256, 256), np.float32)],
    "bad-input-type": [((1, 3, 256, 256), np.uint8)],
    "bad-rank": [((1, 256, 256), np.float32)],
}


# --------------------------------------------------------------------------
# Writing, checking, timing
# --------------------------------------------------------------------------
def write_model(model: onnx.ModelProto, path: str, force: bool) -> str:
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    if not force and os.path.exists(path) and os.path.getsize(path) == len(data):
        with open(path, "rb") as f:
            if f.read() == data:
                return f"unchanged {path} ({len(data):,} bytes, sha256 {digest})"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return f"wrote     {path} ({len(data):,} bytes, sha256 {digest})"


def grey_pattern(shape, dtype, seed=7):
    """Random-ish smooth grey image(s) with R=G=B, in [0,1] (or 0..255 for uint8)."""
    rng = np.random.default_rng(seed)
    if len(shape) == 4:
        n, c, h, w = shape
    else:
        n, h, w = shape
        c = None
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= max(h - 1, 1)
    xx /= max(w - 1, 1)
    imgs = []
    for _ in range(n):
        fx, fy, px, py = rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0, 6.3), rng.uniform(0, 6.3)
        g = (0.5 + 0.3 * np.sin(2 * np.pi * fx * xx + px) * np.cos(2 * np.pi * fy * yy + py)
             + 0.15 * (xx - yy) + 0.05 * rng.standard_normal((h, w)).astype(np.float32))
        imgs.append(np.clip(g, 0.0, 1.0))
    grey = np.stack(imgs)  # [n,h,w]
    out = grey if c is None else np.repeat(grey[:, None], c, axis=1)
    if dtype == np.uint8:
        return np.round(out * 255.0).astype(np.uint8)
    return out.astype(np.float32)


def make_session(path: str):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def check_model(name: str, path: str) -> bool:
    sess = make_session(path)
    in_meta = sess.get_inputs()[0]
    ok = True
    for shape, dtype in CHECK_INPUTS[name]:
        x = grey_pattern(shape, dtype)
        (y,) = sess.run(None, {in_meta.name: x})
        finite = bool(np.isfinite(y).all())
        std = float(y.std(axis=(2, 3)).mean()) if y.ndim == 4 else float("nan")
        expect_c = 3 if name == "bad-output-channels" else 2
        expect = (shape[0], expect_c) + tuple(shape[-2:])
        good = finite and tuple(y.shape) == expect
        ok &= good
        print(f"  check {name:20s} in={in_meta.name}{list(shape)} {np.dtype(dtype).name:7s} "
              f"out={list(y.shape)} spatial-std={std:6.2f} |ab|<=60: {np.mean(np.abs(y) <= 60):.0%} "
              f"min={y.min():7.1f} max={y.max():6.1f} {'ok' if good else 'FAILED'}")
    return ok


def time_bench(path: str, sizes=(256, 512), repeat: int = 3):
    sess = make_session(path)
    for s in sizes:
        x = grey_pattern((1, 3, s, s), np.float32)
        sess.run(None, {"input": x})  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            (y,) = sess.run(None, {"input": x})
            times.append(time.perf_counter() - t0)
        print(f"  time  bench {s}x{s}: min {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s "
              f"over {repeat} runs (intra_op_num_threads=2, ORT_ENABLE_ALL); "
              f"out spatial-std {float(y.std(axis=(2, 3)).mean()):.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Models: " + ", ".join(MODELS))
    ap.add_argument("out_dir", help="directory to write the .onnx files into (e.g. models/generated)")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="generate only these models (name with or without .onnx)")
    ap.add_argument("--check", action="store_true",
                    help="load every selected model in onnxruntime and run it once")
    ap.add_argument("--time", action="store_true",
                    help="time bench.onnx at 256 and 512 (implies checking it)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per size for --time (default 3)")
    ap.add_argument("--force", action="store_true", help="rewrite files even if unchanged")
    args = ap.parse_args(argv)

    names = list(MODELS)
    if args.only:
        names = []
        for n in args.only:
            n = os.path.basename(n)
            n = n[:-5] if n.endswith(".onnx") else n
            if n not in MODELS:
                ap.error(f"unknown model {n!r}; known: {', '.join(MODELS)}")
            if n not in names:
                names.append(n)

    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for name in names:
        path = os.path.join(args.out_dir, name + ".onnx")
        print(write_model(MODELS[name](), path, args.force), flush=True)
        written.append((name, path))

    ok = True
    if args.check or args.time:
        for name, path in written:
            # bench is only run at tiny sizes here; --time runs it at 256 and 512.
            ok &= check_model(name, path)
            if name == "bench" and args.time:
                time_bench(path, repeat=args.repeat)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
