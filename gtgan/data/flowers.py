"""The data kind `flowers`: Oxford-102 flowers in the StackGAN layout (StackGAN's
misc/datasets.py and preprocess_flowers.py, Reed et al.'s text_c10 captions).

    flowers/jpg/image_XXXXX.jpg                        the 8,189 Oxford-102 pictures
    flowers/text_c10/class_XXXXX/image_XXXXX.txt       10 captions, one a line
    flowers/<split>/filenames.pickle                   names 'jpg/image_XXXXX' (StackGAN's;
                                                       'class_XXXXX/image_XXXXX' is read too)
    flowers/<split>/class_info.pickle                  one class (1-102) per name (optional)
    flowers/<split>/char-CNN-RNN-embeddings.pickle     float32 (n, 10, 1024) (optional)

data.root is the folder holding flowers/ or flowers/ itself; the split folders may also lie in
flowers/flowers/ (StackGAN's archive unpacked beside jpg/ and text_c10/). The class is
class_info.pickle's, else the name's class folder, else the text_c10/ folder that holds the
caption file. No bounding boxes: the whole picture is scaled and cropped as StackGAN-v2 does
for data without boxes (shorter side to 76/64 of the size, aspect kept), where StackGAN-v1's
preprocessing squashed each picture to a square. Everything else is CUB's (cub.py,
cub_files.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cub import stackgan_kind
from .cub_files import StackGanLayout
from .registry import register_data_kind

TEXTS = "text_c10"


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _text(name: str, class_id: int) -> str:
    if name.startswith("class_"):
        return f"{TEXTS}/{name}.txt"
    folder = f"class_{class_id:05d}" if class_id >= 0 else "class_*"  # * : in no class folder
    return f"{TEXTS}/{folder}/{_stem(name)}.txt"


def _classes(base: Path, names: list[str], info: Path) -> np.ndarray:
    """Without class_info.pickle: the class folder in the name, else the one holding the
    caption file (-1: none does; the caption file is then reported missing)."""
    found: dict[str, int] | None = None
    out = []
    for name in names:
        head = name.split("/", 1)[0]
        if head.startswith("class_") and head[6:].isdigit():
            out.append(int(head[6:]))
            continue
        if found is None:  # one listing of text_c10/, only when a name needs it
            found = {p.stem: int(p.parent.name[6:]) for p in (base / TEXTS).glob("class_*/*.txt")
                     if p.parent.name[6:].isdigit()}
        out.append(found.get(_stem(name), -1))
    return np.array(out, np.int64)


FLOWERS = StackGanLayout(
    kind="flowers", title="Oxford-102 flowers", folder="flowers", markers=("jpg", TEXTS),
    image=lambda name: f"jpg/{_stem(name)}.jpg", text=_text, classes=_classes)

register_data_kind(stackgan_kind(FLOWERS, "Oxford-102 flowers in the StackGAN layout "
                                          "(flowers/jpg/, flowers/text_c10/, flowers/<split>/)"))
