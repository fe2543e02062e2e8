#!/usr/bin/env python3
"""Render a `tmux capture-pane -e -p` dump (text with SGR colour escapes) to
a PNG, so the README shows the real TUI from a real run.

    tmux new-session -d -s pw -x 80 -y 24 portwarden
    tmux capture-pane -e -p -t pw > assets/tui.ans
    python3 assets/render.py assets/tui.ans assets/tui.png   # needs pillow

Only what the TUI uses is interpreted: SGR resets, bold, reverse, and the 16
basic foreground/background colours (portwarden sticks to those so it works
on 16-colour terminals).
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

PALETTE = [
    (0x1e, 0x1e, 0x1e), (0xcd, 0x31, 0x31), (0x0d, 0xbc, 0x79), (0xe5, 0xe5, 0x10),
    (0x24, 0x72, 0xc8), (0xbc, 0x3f, 0xbc), (0x11, 0xa8, 0xcd), (0xcc, 0xcc, 0xcc),
    (0x66, 0x66, 0x66), (0xf1, 0x4c, 0x4c), (0x23, 0xd1, 0x8b), (0xf5, 0xf5, 0x43),
    (0x3b, 0x8e, 0xea), (0xd6, 0x70, 0xd6), (0x29, 0xb8, 0xdb), (0xe5, 0xe5, 0xe5),
]
FG, BG = PALETTE[7], PALETTE[0]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"


def cells(text):
    """Yield rows of (char, fg, bg, bold)."""
    for line in text.split("\n"):
        fg, bg, bold, rev = FG, BG, False, False
        row = []
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
            if not m:
                for ch in part:
                    f, b = (bg, fg) if rev else (fg, bg)
                    row.append((ch, f, b, bold))
                continue
            codes = [int(c) if c else 0 for c in m.group(1).split(";")]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    fg, bg, bold, rev = FG, BG, False, False
                elif c == 1:
                    bold = True
                elif c == 22:
                    bold = False
                elif c == 7:
                    rev = True
                elif c == 27:
                    rev = False
                elif 30 <= c <= 37:
                    fg = PALETTE[c - 30]
                elif 90 <= c <= 97:
                    fg = PALETTE[c - 90 + 8]
                elif c == 39:
                    fg = FG
                elif 40 <= c <= 47:
                    bg = PALETTE[c - 40]
                elif 100 <= c <= 107:
                    bg = PALETTE[c - 100 + 8]
                elif c == 49:
                    bg = BG
                elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                    col = PALETTE[codes[i + 2] % 16]
                    if c == 38:
                        fg = col
                    else:
                        bg = col
                    i += 2
                i += 1
        yield row


def main(src, dst):
    text = open(src, encoding="utf-8", errors="replace").read().rstrip("\n")
    rows = list(cells(text))
    font, bold = ImageFont.truetype(FONT, 15), ImageFont.truetype(BOLD, 15)
    w, h = 9, 19
    cols = max(80, max(len(r) for r in rows))
    img = Image.new("RGB", (cols * w + 16, len(rows) * h + 16), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (ch, f, b, bd) in enumerate(row):
            px, py = 8 + x * w, 8 + y * h
            if b != BG:
                d.rectangle([px, py, px + w - 1, py + h - 1], fill=b)
            if ch != " ":
                d.text((px, py), ch, font=bold if bd else font, fill=f)
    img.save(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
