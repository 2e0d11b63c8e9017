"""Pictures from tensors and pictures with text: the sample grids of training, the CLI's
generate / interpolate outputs, the demo's report and `gtgan data inspect`'s example grid."""
from __future__ import annotations

import textwrap
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(n, 3, H, W) in [-1, 1] -> PIL RGB images."""
    arr = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in arr]


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _wrap(text: str, width_chars: int, max_lines: int) -> list[str]:
    lines = textwrap.wrap(text, width_chars) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, width_chars - 3)] + "..."
    return lines


class CaptionedGrid:
    """`captioned_grid`'s canvas, filled one image at a time: a caller that makes images in
    batches (gtgan generate) keeps only the canvas, never every image. `size_of` gives the
    canvas size before it is allocated, so a too-large grid can be refused first."""

    def __init__(self, captions: Sequence[str], ncol: int, size: int, text_width: int = 260,
                 pad: int = 4):
        self.size, self.pad, self.text_width = size, pad, text_width
        font_size = 12 if size <= 64 else 14
        font = _font(font_size)
        line_h = font_size + 3
        self.image = Image.new("RGB", self.size_of(len(captions), ncol, size, text_width, pad),
                               "white")
        draw = ImageDraw.Draw(self.image)
        chars = max(10, int(text_width / (font_size * 0.55)))
        for r, caption in enumerate(captions):
            y = pad + r * (size + pad)
            for line_no, line in enumerate(_wrap(caption, chars, max(1, size // line_h))):
                draw.text((pad, y + line_no * line_h), line, fill="black", font=font)

    @staticmethod
    def size_of(rows: int, ncol: int, size: int, text_width: int = 260, pad: int = 4
                ) -> tuple[int, int]:
        return text_width + ncol * (size + pad) + pad, rows * (size + pad) + pad

    def paste(self, row: int, col: int, im: Image.Image) -> None:
        pad, size = self.pad, self.size
        self.image.paste(im, (self.text_width + pad + col * (size + pad), pad + row * (size + pad)))


def captioned_grid(rows: Sequence[Sequence[Image.Image]], captions: Sequence[str],
                   text_width: int = 260, pad: int = 4) -> Image.Image:
    """One row of images per caption, the caption written to the left of its row."""
    caps = list(captions[:len(rows)]) + [""] * (len(rows) - len(captions))
    grid = CaptionedGrid(caps, max(len(r) for r in rows), rows[0][0].width,
                         text_width, pad)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            grid.paste(r, c, im)
    return grid.image


def image_strip(images: Sequence[Image.Image], label: str = "", pad: int = 2) -> Image.Image:
    """Images side by side, with an optional label line above."""
    w, h = images[0].size
    top = 20 if label else 0
    canvas = Image.new("RGB", (len(images) * (w + pad) + pad, h + 2 * pad + top), "white")
    for i, im in enumerate(images):
        canvas.paste(im, (pad + i * (w + pad), pad + top))
    if label:
        ImageDraw.Draw(canvas).text((pad, 3), label, fill="black", font=_font(13))
    return canvas


def caption_grid(examples: list[tuple[Image.Image, str]], size: int = 128, cols: int = 4,
                 text_lines: int = 5) -> Image.Image:
    """Crops with their captions written under them."""
    font = _font(11)
    line_h = 13
    cell_h = size + line_h * text_lines + 6
    cols = max(1, min(cols, len(examples)))
    rows = (len(examples) + cols - 1) // cols
    grid = Image.new("RGB", (cols * (size + 6) + 6, rows * cell_h + 6), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    width_chars = max(10, size // 6)
    for n, (img, caption) in enumerate(examples):
        x, y = 6 + (n % cols) * (size + 6), 6 + (n // cols) * cell_h
        grid.paste(img.resize((size, size)), (x, y))
        wrapped = textwrap.wrap(caption, width_chars)[:text_lines]
        for k, line in enumerate(wrapped):
            draw.text((x, y + size + 2 + k * line_h), line, fill=(0, 0, 0), font=font)
    return grid
