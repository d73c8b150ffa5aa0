#!/usr/bin/env python3
"""Before/after crops for the workflow presets: side-by-side PNGs a person can look at.

Usage: workflow_crops.py OUT.png LABEL=IMAGE... --crop X,Y,W,H [--scale K]
Each IMAGE is cropped to the same box, scaled up K times (nearest, so pixels stay visible),
labelled, and the crops are placed side by side.
"""
import argparse

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("images", nargs="+", help="LABEL=PATH")
    ap.add_argument("--crop", required=True, help="X,Y,W,H")
    ap.add_argument("--scale", type=int, default=2)
    a = ap.parse_args()
    x, y, w, h = (int(v) for v in a.crop.split(","))
    tiles = []
    for item in a.images:
        label, path = item.split("=", 1)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{path}: cannot read")
        crop = img[y : y + h, x : x + w]
        crop = cv2.resize(crop, (w * a.scale, h * a.scale), interpolation=cv2.INTER_NEAREST)
        bar = np.full((28, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([bar, crop]))
        tiles.append(np.full((tiles[-1].shape[0], 6, 3), 255, np.uint8))
    cv2.imwrite(a.out, np.hstack(tiles[:-1]))


if __name__ == "__main__":
    main()
