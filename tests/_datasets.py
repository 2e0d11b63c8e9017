"""Data-set views shared by metric tests."""
from __future__ import annotations


class OneCaptionEach:
    """The synthetic test split with one caption per picture, so N samples are its N pictures."""

    def __init__(self, dataset):
        self.dataset, self.image_sizes = dataset, dataset.image_sizes

    def __len__(self):
        return len(self.dataset)

    def embeddings(self, i):
        return self.dataset.embeddings(i)[:1]

    def text_features(self, i, k):
        return self.dataset.text_features(i, k)

    def real_image(self, i, size):
        return self.dataset.real_image(i, size)
