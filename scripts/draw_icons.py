#!/usr/bin/env python3
"""Draws Locus's toolbar icons (icons/icon-{16,32,48,128}.png) with the standard library only.

The mark is a "locus": a point with a ring around it, white on a teal rounded square.
Each pixel is supersampled 8x8 for smooth edges. Run from the repo root.
"""
import struct
import zlib

TEAL = (15, 118, 110)
WHITE = (255, 255, 255)


def coverage(size, x, y, inside):
    """Fraction of the pixel (x, y) for which inside(u, v) holds, u, v in [0, 1]."""
    n = 8
    hits = 0
    for i in range(n):
        for j in range(n):
            u = (x + (i + 0.5) / n) / size
            v = (y + (j + 0.5) / n) / size
            hits += inside(u, v)
    return hits / (n * n)


def rounded_square(u, v, r=0.22):
    dx = max(abs(u - 0.5) - (0.5 - r), 0)
    dy = max(abs(v - 0.5) - (0.5 - r), 0)
    return dx * dx + dy * dy <= r * r


def mark(u, v):
    d = ((u - 0.5) ** 2 + (v - 0.5) ** 2) ** 0.5
    return d <= 0.11 or 0.24 <= d <= 0.33


def pixel(size, x, y):
    bg = coverage(size, x, y, rounded_square)
    fg = coverage(size, x, y, lambda u, v: rounded_square(u, v) and mark(u, v))
    rgb = [round(t + (w - t) * (fg / bg if bg else 0)) for t, w in zip(TEAL, WHITE)]
    return bytes(rgb + [round(255 * bg)])


def png(size):
    rows = b"".join(b"\0" + b"".join(pixel(size, x, y) for x in range(size)) for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    for size in (16, 32, 48, 128):
        with open(f"icons/icon-{size}.png", "wb") as f:
            f.write(png(size))
