"""The soak test's photos (scripts/soak.sh): many photos of mixed sizes and formats from the few
in tests/media, so that one `ddcolor batch` process sees thousands of them.

Each source photo is written at several sizes (long side 320 to 4800 pixels, some grey, some
colour, JPEG and PNG); then COUNT names are made as hard links to those variants, in turn, so
that thousands of photos cost the disk only the variants.

usage: soak_photos.py OUT_DIR COUNT SOURCE...
"""

import os
import sys

import cv2

LONG_SIDES = [320, 640, 1024, 1600, 2400, 4800]


def main():
    out, count, sources = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    variants_dir = os.path.join(out, "variants")
    photos_dir = os.path.join(out, "photos")
    os.makedirs(variants_dir, exist_ok=True)
    os.makedirs(photos_dir, exist_ok=True)
    variants = []
    for n, src in enumerate(sorted(sources)):
        img = cv2.imread(src, cv2.IMREAD_COLOR)
        if img is None:
            continue
        stem = os.path.splitext(os.path.basename(src))[0]
        h, w = img.shape[:2]
        for k, side in enumerate(LONG_SIDES):
            # The largest size only for every fourth source: a few big scans among many.
            if side == LONG_SIDES[-1] and n % 4:
                continue
            scale = side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            v = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            if (n + k) % 2 == 0:
                v = cv2.cvtColor(v, cv2.COLOR_BGR2GRAY)
            ext = "png" if (n + k) % 3 == 0 else "jpg"
            path = os.path.join(variants_dir, f"{stem}_{side}.{ext}")
            cv2.imwrite(path, v)
            variants.append(path)
    if not variants:
        sys.exit("no source photo could be read")
    for i in range(count):
        v = variants[i % len(variants)]
        link = os.path.join(photos_dir, f"p{i:05d}{os.path.splitext(v)[1]}")
        if not os.path.exists(link):
            os.link(v, link)
    print(f"{count} photos from {len(variants)} variants of {len(sources)} sources in {photos_dir}")


if __name__ == "__main__":
    main()
