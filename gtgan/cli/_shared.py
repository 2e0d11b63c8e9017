"""What several commands' arguments share."""
from __future__ import annotations

DATA_ROOT_HELP = ("CUB root holding birds/*/char-CNN-RNN-embeddings.pickle: a char-CNN-RNN "
                  "model (e.g. imported StackGAN-v2) looks captions up there")
