"""gtgan: Gt-StackGAN text-to-image GAN (StackGAN++ + dual attention + VGG19 fidelity loss).

    import gtgan
    pipe = gtgan.TextToImage.from_pretrained("runs/demo")
    images = pipe(["a red bird with black wings"], num_images=4, seed=0)
"""
__version__ = "0.1.0"

__all__ = ["TextToImage", "__version__", "load_generator"]


def __getattr__(name):  # lazy, so that `gtgan --version` does not import torch
    if name == "TextToImage":
        from .pipeline import TextToImage

        return TextToImage
    if name == "load_generator":  # what is at a path -> a generator (gtgan.storage)
        from .storage import load_generator

        return load_generator
    raise AttributeError(f"module 'gtgan' has no attribute {name!r}")
