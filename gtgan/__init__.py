"""gtgan: Gt-StackGAN text-to-image GAN (StackGAN++ + dual attention + VGG19 fidelity loss)."""
__version__ = "0.1.0"
