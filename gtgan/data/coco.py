"""The data kind `coco`: MS-COCO 2014 in the AttnGAN / DF-GAN layout.

    coco/images/<name>.jpg            COCO_train2014_... and COCO_val2014_... pictures
    coco/text/<name>.txt              captions, one a line: the first 5 non-empty ones are used
    coco/<split>/filenames.pickle     names without .jpg (AttnGAN: train 82,783, test 40,504)
    coco/<split>/class_info.pickle    optional; without it every picture is its own class

data.root is the folder holding coco/ or coco/ itself. As AttnGAN reads them: empty caption
lines are skipped (not an error, unlike CUB's), more than 5 captions are cut, fewer are an
error (or the picture is left out with data.skip_missing). No bounding boxes, and no
char-CNN-RNN vectors in this layout (use bow, sentence-transformers or a DAMSM). Everything
else is CUB's (cub.py, cub_files.py)."""
from __future__ import annotations

import numpy as np

from .cub import stackgan_kind
from .cub_files import StackGanLayout
from .registry import register_data_kind

COCO = StackGanLayout(
    kind="coco", title="COCO-2014", folder="coco", markers=("images", "text"),
    image=lambda name: f"images/{name}.jpg", text=lambda name, class_id: f"text/{name}.txt",
    classes=lambda base, names, info: np.arange(len(names), dtype=np.int64),
    captions=5, strict_empty=False)

register_data_kind(stackgan_kind(COCO, "MS-COCO 2014 in the AttnGAN / DF-GAN layout "
                                       "(coco/images/, coco/text/, coco/<split>/)"))
