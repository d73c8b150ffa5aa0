#!/usr/bin/env python3
"""Reference values for the engine's colour conversions, produced by OpenCV itself.

Writes into OUT_DIR (raw little-endian arrays, described by manifest.json):
  grid_rgb.f32 / grid_lab.f32      dense RGB grid (every 1/32 step, 8-bit levels, random floats,
                                   out-of-range values) and cv2 BGR->Lab of it (float32)
  lab_in.f32 / lab_rgb.f32 / lab_rgb8.u8
                                   dense Lab grid incl. out-of-gamut values, cv2 Lab->RGB (float)
                                   and the reference's 8-bit rounding of it
  photos/NAME.png                  each historical photo as cv2.imread decodes it (RGB PNG), so
                                   both sides see the same pixels
  photos/NAME.lab.f32              cv2 BGR->Lab of that photo (float32 /255), rows y % STRIDE == 0
  photos/NAME.rgb8.u8              cv2 Lab->RGB of that Lab, *255 rounded, same rows
  crops/*.png                      1024x1024 crops of two scans: exactly twice the model size 512,
                                   where OpenCV's INTER_LINEAR resize takes its area-averaging path
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

STRIDE = 4


def bgr2lab_rgb_order(rgb):
    """cv2 BGR->Lab of RGB float values given as (N, 3), the way the reference calls it."""
    bgr = np.ascontiguousarray(rgb[:, ::-1]).reshape(-1, 1, 3)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).reshape(-1, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(__file__), "../media/photos/historical"))
    args = ap.parse_args()
    out = args.out_dir
    os.makedirs(os.path.join(out, "photos"), exist_ok=True)
    rng = np.random.default_rng(20261124)
    manifest = {"stride": STRIDE, "photos": []}

    # Dense RGB grid: table nodes, 8-bit levels, in-between floats, out-of-range values.
    axis = np.unique(np.concatenate([
        np.arange(33) / 32.0,
        np.arange(0, 256, 5) / 255.0,
        [0.123, 0.5 / 16384, 1.5 / 16384, 0.999, 1.0001, -0.01, 1.2],
    ]).astype(np.float32))
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    grid = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    grid = np.concatenate([grid, rng.random((200000, 3), dtype=np.float32),
                           np.repeat((np.arange(256) / 255.0)[:, None], 3, axis=1)]).astype(np.float32)
    grid.tofile(os.path.join(out, "grid_rgb.f32"))
    bgr2lab_rgb_order(grid).astype(np.float32).tofile(os.path.join(out, "grid_lab.f32"))
    manifest["grid"] = len(grid)

    # Dense Lab grid, including colours far outside the sRGB gamut (clipped, never wrapped).
    L = np.linspace(0, 100, 41, dtype=np.float32)
    A = np.linspace(-140, 140, 57, dtype=np.float32)
    Lg, Ag, Bg = np.meshgrid(L, A, A, indexing="ij")
    lab = np.stack([Lg.ravel(), Ag.ravel(), Bg.ravel()], axis=1)
    lab = np.concatenate([lab, (rng.random((100000, 3)) * [100, 256, 256] - [0, 128, 128])]).astype(np.float32)
    lab.tofile(os.path.join(out, "lab_in.f32"))
    rgb = cv2.cvtColor(lab.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(-1, 3)
    rgb.astype(np.float32).tofile(os.path.join(out, "lab_rgb.f32"))
    (rgb * 255.0).round().astype(np.uint8).tofile(os.path.join(out, "lab_rgb8.u8"))
    manifest["lab"] = len(lab)

    # Real photographs.
    for name in sorted(os.listdir(args.photos)):
        img = cv2.imread(os.path.join(args.photos, name))
        if img is None:
            print(f"skipping {name}: not readable", file=sys.stderr)
            continue
        stem = os.path.splitext(name)[0]
        cv2.imwrite(os.path.join(out, "photos", stem + ".png"), img)
        f = (img / 255.0).astype(np.float32)[::STRIDE]
        lab = cv2.cvtColor(f, cv2.COLOR_BGR2Lab)
        lab.astype(np.float32).tofile(os.path.join(out, "photos", stem + ".lab.f32"))
        rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        (rgb * 255.0).round().astype(np.uint8).tofile(os.path.join(out, "photos", stem + ".rgb8.u8"))
        manifest["photos"].append({"name": stem, "width": img.shape[1], "height": img.shape[0]})
    os.makedirs(os.path.join(out, "crops"), exist_ok=True)
    for name, y, x in [("covered-wagons-traveling.jpg", 1000, 1500), ("1860Girls.jpg", 0, 200)]:
        img = cv2.imread(os.path.join(args.photos, name))
        crop = img[y:y + 1024, x:x + 1024]
        assert crop.shape[:2] == (1024, 1024), name
        cv2.imwrite(os.path.join(out, "crops", os.path.splitext(name)[0] + "_1024.png"), crop)
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    print(f"wrote {manifest['grid']} RGB and {manifest['lab']} Lab reference values and "
          f"{len(manifest['photos'])} photos to {out}")


if __name__ == "__main__":
    main()
