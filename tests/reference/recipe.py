#!/usr/bin/env python3
"""The official DDColor inference recipe (numpy + OpenCV + onnxruntime), as a reference.

Mirrors `ColorizationPipeline.process` of the official code step by step, with the model run by
onnxruntime instead of PyTorch and PyTorch's default `F.interpolate` (legacy nearest) written out
in numpy. Used by the tests (equality with `ddcolor photo --upsample nearest`) and the benchmark
(speed of the Python pipeline against the Rust one).

  recipe.py --model M.onnx [--input-size S] --out-dir DIR IMAGE...
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def nearest_indices(n_in, n_out):
    """PyTorch's legacy nearest source indices (upsample_nearest2d, CPU kernel)."""
    d = np.arange(n_out)
    if n_out == n_in:
        return d
    if n_out == 2 * n_in:
        return d >> 1
    scale = np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(d.astype(np.float32) * scale).astype(np.int64), n_in - 1)


class Reference:
    def __init__(self, model, input_size=None, threads=None):
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        inp = self.sess.get_inputs()[0]
        h = inp.shape[2]
        self.size = h if isinstance(h, int) and h > 0 else (input_size or 512)
        self.input_name = inp.name

    def process(self, img):
        height, width = img.shape[:2]
        img = (img / 255.0).astype(np.float32)
        orig_l = cv2.cvtColor(img, cv2.COLOR_BGR2Lab)[:, :, :1]

        img = cv2.resize(img, (self.size, self.size))
        img_l = cv2.cvtColor(img, cv2.COLOR_BGR2Lab)[:, :, :1]
        img_gray_lab = np.concatenate((img_l, np.zeros_like(img_l), np.zeros_like(img_l)), axis=-1)
        img_gray_rgb = cv2.cvtColor(img_gray_lab, cv2.COLOR_LAB2RGB)

        tensor = img_gray_rgb.transpose((2, 0, 1))[None].astype(np.float32)
        output_ab = self.sess.run(None, {self.input_name: tensor})[0][0]  # (2, S, S)

        ys = nearest_indices(self.size, height)
        xs = nearest_indices(self.size, width)
        output_ab_resize = output_ab[:, ys][:, :, xs].transpose(1, 2, 0)
        output_lab = np.concatenate((orig_l, output_ab_resize), axis=-1)
        output_bgr = cv2.cvtColor(output_lab, cv2.COLOR_LAB2BGR)
        return (output_bgr * 255.0).round().astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--input-size", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    ref = Reference(args.model, args.input_size, args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    t0 = time.perf_counter()
    for path in args.images:
        img = cv2.imread(path)
        if img is None:
            print(f"{path}: not readable", file=sys.stderr)
            return 1
        out = ref.process(img)
        stem = os.path.splitext(os.path.basename(path))[0]
        cv2.imwrite(os.path.join(args.out_dir, stem + ".png"), out)
    dt = time.perf_counter() - t0
    print(f"python reference: {len(args.images)} images in {dt:.2f} s (S={ref.size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
