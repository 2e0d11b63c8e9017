"""Networks: shapes, attention maths against naive references, parameter counts, StackGAN-v2 keys."""
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from gtgan.config import ModelConfig
from gtgan.models import (ChannelAttention, DualAttention, PositionAttention, TextFeatures, VGGFeatures,
                          build_discriminators, build_generator, count_parameters, kl_divergence)
from gtgan.presets import get_preset

# The official StackGAN-v2 birds counts (GF_DIM = DF_DIM = 64, Z 100, C 128, text 1024).
OFFICIAL_COUNTS = {"G_NET_2stages": 21_082_016, "G_NET_3stages": 21_239_696, "D_NET64": 5_723_906,
                   "D_NET128": 18_834_178, "D_NET256": 71_269_122}

TINY = dict(text_dim=24, c_dim=8, z_dim=8, ngf=8, ndf=8)


def naive_pam(m: PositionAttention, x: torch.Tensor) -> torch.Tensor:
    """DANet's PAM written literally (bmm over the full N x N energy)."""
    b, c, h, w = x.shape
    q = m.query_conv(x).view(b, -1, h * w).permute(0, 2, 1)
    k = m.key_conv(x).view(b, -1, h * w)
    attention = torch.softmax(torch.bmm(q, k), dim=-1)
    v = m.value_conv(x).view(b, -1, h * w)
    out = torch.bmm(v, attention.permute(0, 2, 1)).view(b, c, h, w)
    return m.gamma * out + x


def naive_cam(m: ChannelAttention, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    if m.form == "paper":
        q, k, v = (conv(x).view(b, c, -1) for conv in (m.query_conv, m.key_conv, m.value_conv))
        attention = torch.softmax(torch.einsum("bin,bjn->bij", q, k), dim=-1)
    else:
        v = x.view(b, c, -1)
        energy = torch.einsum("bin,bjn->bij", v, v)
        attention = torch.softmax(energy.max(-1, keepdim=True)[0] - energy, dim=-1)
    return m.gamma * torch.einsum("bij,bjn->bin", attention, v).view(b, c, h, w) + x


def test_parameter_counts_match_official_stackgan_v2(reference_shapes):
    assert reference_shapes["parameter_counts"] == OFFICIAL_COUNTS
    for preset, g_name, d_names in [("stackgan++", "G_NET_2stages", ["D_NET64", "D_NET128"]),
                                    ("stackgan++-256", "G_NET_3stages", ["D_NET64", "D_NET128", "D_NET256"])]:
        cfg = get_preset(preset).model
        g = build_generator(cfg, init=False)
        assert count_parameters(g) == OFFICIAL_COUNTS[g_name]
        shapes = {k: list(v.shape) for k, v in g.state_dict().items()}
        assert shapes == reference_shapes["state_dict_shapes"][g_name]
        for d, name in zip(build_discriminators(cfg, init=False), d_names):
            assert count_parameters(d) == OFFICIAL_COUNTS[name]
            assert {k: list(v.shape) for k, v in d.state_dict().items()} == \
                reference_shapes["state_dict_shapes"][name]


def test_paper_preset_shapes_at_paper_sizes():
    cfg = get_preset("paper").model
    torch.manual_seed(0)
    g = build_generator(cfg)
    out = g(TextFeatures(torch.randn(2, cfg.text_dim)), torch.randn(2, cfg.z_dim))
    assert [tuple(im.shape) for im in out.images] == [(2, 3, 64, 64), (2, 3, 128, 128)]
    assert out.mu.shape == out.logvar.shape == out.c.shape == (2, 128)
    assert all(im.abs().max() <= 1 for im in out.images)
    # The attention block sits at 64x64 on C = ngf = 64 channels and concatenates to 2C.
    att = g.h_net2.attention
    assert isinstance(att, DualAttention) and att.out_channels == 128
    assert g.h_net2.residual[0].block[0].in_channels == 128
    assert g.h_net2.upsample[1].in_channels == 128 and g.img_net2.img[0].in_channels == 32
    ds = build_discriminators(cfg)
    for d, im in zip(ds, out.images):
        o = d(im, out.mu)
        assert o.cond.shape == o.uncond.shape == (2,) and o.text is None
        assert d(im).cond is None


def test_three_stage_and_fused_attention_shapes():
    cfg = ModelConfig(**TINY, stages=3, attention_stages=[2, 3], attention_merge="fuse")
    g = build_generator(cfg)
    images = g(TextFeatures(torch.randn(2, 24)), torch.randn(2, 8)).images
    assert [im.shape[-1] for im in images] == [64, 128, 256]
    assert g.h_net2.attention.out_channels == 8 and g.h_net3.attention.out_channels == 4
    assert all(d(im, torch.randn(2, 8)).cond.shape == (2,) for d, im in zip(build_discriminators(cfg), images))


def test_one_stage_and_ablations():
    cfg = ModelConfig(**TINY, stages=1, attention_stages=[])
    assert len(build_generator(cfg)(TextFeatures(torch.randn(3, 24)), torch.randn(3, 8)).images) == 1
    for pam, cam in [(True, False), (False, True)]:
        g = build_generator(ModelConfig(**TINY, pam=pam, cam=cam))
        assert g.h_net2.attention.out_channels == 8
        assert (g.h_net2.attention.pam is not None) == pam and (g.h_net2.attention.cam is not None) == cam
    g = build_generator(ModelConfig(**TINY, pam=False, cam=False))
    assert g.h_net2.attention is None


@pytest.mark.parametrize("module", [PositionAttention(16), ChannelAttention(16, "paper"),
                                    ChannelAttention(16, "danet")])
def test_attention_is_identity_with_gamma_zero(module):
    x = torch.randn(2, 16, 8, 8)
    assert float(module.gamma.detach()) == 0.0
    torch.testing.assert_close(module(x), x, rtol=0, atol=0)


def test_dual_attention_concat_is_two_identities_at_init():
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(DualAttention(16)(x), torch.cat([x, x], 1), rtol=0, atol=0)


@pytest.mark.parametrize("channels,size", [(64, 16), (16, 12)])
def test_position_attention_matches_naive_reference(channels, size):
    torch.manual_seed(0)
    m = PositionAttention(channels)
    with torch.no_grad():
        m.gamma.fill_(0.7)
    x = torch.randn(2, channels, size, size, dtype=torch.float32)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, ref = m(x1), naive_pam(m, x2)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ours)
    g_ours = torch.autograd.grad(ours, [x1, *m.parameters()], grad)
    g_ref = torch.autograd.grad(ref, [x2, *m.parameters()], grad)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # The module's own naive path is the same maths.
    m.naive = True
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["paper", "danet"])
def test_channel_attention_matches_naive_reference(form):
    torch.manual_seed(1)
    m = ChannelAttention(16, form)
    with torch.no_grad():
        m.gamma.fill_(0.5)
    x = (0.1 * torch.randn(2, 16, 8, 8)).requires_grad_()
    ours, ref = m(x), naive_cam(m, x)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g1 = torch.autograd.grad(ours.sum(), [x, *m.parameters()])
    g2 = torch.autograd.grad(ref.sum(), [x, *m.parameters()])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_trainable_parameter():
    cfg = ModelConfig(**TINY, cam_form="paper", d_text_regression=True)
    torch.manual_seed(0)
    g, ds = build_generator(cfg), build_discriminators(cfg)
    for m in g.modules():  # gamma = 0 at init blocks the gradient to q/k/v: open the gate
        if isinstance(m, (PositionAttention, ChannelAttention)):
            with torch.no_grad():
                m.gamma.fill_(0.3)
    out = g(TextFeatures(torch.randn(4, 24)), torch.randn(4, 8))
    loss = kl_divergence(out.mu, out.logvar)
    for d, im in zip(ds, out.images):
        o = d(im, out.mu)
        loss = loss + o.cond.mean() + o.uncond.mean() + (o.text - 1).pow(2).mean()  # text head starts at 0
    loss.backward()
    for name, p in [*g.named_parameters(), *ds.named_parameters()]:
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_projection_discriminator_reads_the_condition():
    cfg = ModelConfig(**TINY, d_condition="projection")
    torch.manual_seed(0)
    ds = build_discriminators(cfg)
    keys = set(ds.state_dict())
    assert "0.projection.weight" in keys and not any("jointConv" in k for k in keys)
    x, c = torch.randn(3, 3, 64, 64), torch.randn(3, 8)
    d = ds[0].eval()
    out, other = d(x, c), d(x, c + 1)
    assert out.cond.shape == out.uncond.shape == (3,)
    assert not torch.allclose(out.cond, other.cond)  # the condition moves the logit
    # the conditional logit is linear in c: the projection term, no hidden nonlinearity
    mid = d(x, c + 0.5).cond
    assert torch.allclose(mid, (out.cond + other.cond) / 2, atol=1e-5)
    with pytest.raises(Exception, match="d_condition"):
        ModelConfig(**TINY, d_condition="dot").validate()


def test_image_skip_starts_each_stage_as_the_previous_image_upsampled():
    import torch.nn.functional as F
    cfg = ModelConfig(**TINY, image_skip=True)
    torch.manual_seed(0)
    g = build_generator(cfg).eval()
    z, t = torch.randn(2, 8), TextFeatures(torch.randn(2, 24))
    small, large = g(t, z).images
    up = F.interpolate(torch.atanh(small.clamp(-1 + 1e-6, 1 - 1e-6)), scale_factor=2, mode="bilinear",
                       align_corners=False)
    assert torch.allclose(large, torch.tanh(up), atol=1e-4)
    # the stage's own image conv still learns (it starts at zero, its gradient does not)
    g.train()
    g(t, z).images[1].square().mean().backward()
    assert g.img_net2.img[0].weight.grad.abs().sum() > 0
    plain = build_generator(ModelConfig(**TINY))  # the default draws each stage from scratch
    assert plain.img_net2.img[0].weight.abs().sum() > 0


def test_z_every_block_gives_the_noise_to_each_stage1_up_block():
    cfg = ModelConfig(**TINY, z_every_block=True)
    torch.manual_seed(0)
    g = build_generator(cfg).eval()
    plain = build_generator(ModelConfig(**TINY))
    ngf16 = cfg.ngf * 16
    for k, ch in enumerate((ngf16, ngf16 // 2, ngf16 // 4, ngf16 // 8), start=1):
        conv = getattr(g.h_net1, f"upsample{k}")[1]
        assert conv.in_channels == ch + cfg.z_dim  # the tiled z beside h
        assert getattr(plain.h_net1, f"upsample{k}")[1].in_channels == ch
    # The first FC's share of the noise cut, z still moves the picture: through the blocks.
    with torch.no_grad():
        g.h_net1.fc[0].weight[:, cfg.c_dim:] = 0
    t = TextFeatures(torch.randn(2, 24))
    eps = torch.zeros(2, cfg.c_dim)
    a = g(t, torch.randn(2, 8), eps).images[0]
    b = g(t, torch.randn(2, 8), eps).images[0]
    assert (a - b).abs().mean() > 1e-3


def test_c_film_starts_as_stackgan_and_lets_the_caption_reach_every_up_block():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(**TINY, c_film=True)).eval()
    plain = build_generator(ModelConfig(**TINY)).eval()
    missing, unexpected = plain.load_state_dict(g.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("h_net1.film.") for k in unexpected)
    t, z, eps = TextFeatures(torch.randn(3, 24)), torch.randn(3, 8), torch.zeros(3, 8)
    with torch.no_grad():  # zero-initialised: the same pictures as without it
        for a, b in zip(g(t, z, eps).images, plain(t, z, eps).images):
            assert torch.equal(a, b)
    ngf16 = 8 * 16
    assert [lin.out_features for lin in g.h_net1.film] == [ngf16, ngf16 // 2, ngf16 // 4, ngf16 // 8]
    g.train()
    g(t, z, eps).images[0].square().mean().backward()  # it learns from the first step
    assert all(lin.weight.grad.abs().sum() > 0 for lin in g.h_net1.film)
    # The first FC's share of c cut, the caption still moves the picture: through FiLM.
    with torch.no_grad():
        g.h_net1.fc[0].weight[:, :8] = 0
        for lin in g.h_net1.film:
            lin.weight.normal_(0, 0.3)
    g.eval()
    one = torch.randn(1, 8).expand(2, -1)
    with torch.no_grad():
        a = g.synthesise(one, torch.randn(2, 8))[0]
    assert (a[0] - a[1]).abs().mean() > 1e-3


def test_mirror_noise_mirrors_by_the_sign_of_the_first_noise_coordinate():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(**TINY, mirror_noise=True)).eval()
    t = TextFeatures(torch.randn(1, 24).expand(2, -1))
    z = torch.randn(1, 8).expand(2, -1).clone()
    z[0, 0], z[1, 0] = 0.7, -0.7
    eps = torch.zeros(2, 8)
    with torch.no_grad():
        for im in g(t, z, eps).images:  # every stage mirrored alike
            assert torch.allclose(im[1], im[0].flip(2), atol=1e-6)
            assert not torch.allclose(im[1], im[0], atol=1e-3)


def test_kl_matches_formula_and_ca_sampling():
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    expected = -0.5 * (1 + logvar - mu**2 - logvar.exp()).mean()
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)
    assert float(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    g = build_generator(ModelConfig(**TINY, ca_noise_scale=0.0))
    c, mu, _ = g.ca_net(torch.randn(3, 24))
    torch.testing.assert_close(c, mu)


def test_initialisation_is_stackgan_pp():
    g = build_generator(ModelConfig(**TINY))
    w = g.h_net2.jointConv[0].weight.flatten(1)  # orthogonal rows (fewer rows than columns)
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), rtol=1e-4, atol=1e-4)
    bn = g.h_net1.fc[1]
    assert abs(float(bn.weight.mean()) - 1.0) < 0.01 and 0.01 < float(bn.weight.std()) < 0.03
    assert float(bn.bias.abs().max()) == 0.0


def test_vgg_extractor_is_vgg19_features_to_conv5_4():
    from torchvision.models import vgg19

    with pytest.warns(UserWarning, match="RANDOM"):
        vgg = VGGFeatures("random")
    reference = vgg19(weights=None).features[:35]
    assert len(vgg.features) == len(reference) == 35
    for ours, ref in zip(vgg.features, reference):
        assert type(ours) is type(ref) and repr(ours) == repr(ref)
    assert isinstance(vgg.features[-1], nn.Conv2d)  # conv5_4, before its ReLU
    assert vgg.is_random and not vgg.training
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    feats = vgg(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert feats.shape == (1, 512, 4, 4)


def test_vgg_local_file_roundtrip_and_bad_file(tmp_path):
    from gtgan.models import WeightsError
    from torchvision.models import vgg19

    ref = vgg19(weights=None)
    path = tmp_path / "vgg19.pth"
    torch.save(ref.state_dict(), path)
    vgg = VGGFeatures(str(path))
    assert not vgg.is_random
    torch.testing.assert_close(vgg.features[0].weight, ref.features[0].weight)
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pth"):
        VGGFeatures(str(tmp_path / "bad.pth"))
    with pytest.raises(WeightsError, match="not found"):
        VGGFeatures(str(tmp_path / "missing.pth"))


def _official_state(shapes: dict, prefix: str = "") -> dict:
    gen = torch.Generator().manual_seed(0)
    out = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[prefix + k] = torch.tensor(7)
        else:
            out[prefix + k] = torch.randn(shape, generator=gen)
    return out


def test_import_official_stackgan_v2_checkpoint(tmp_path, reference_shapes):
    from gtgan.cli import main
    from gtgan.storage import load_model

    shapes = reference_shapes["state_dict_shapes"]
    g_state = _official_state(shapes["G_NET_2stages"], prefix="module.")  # DataParallel keys
    torch.save(g_state, tmp_path / "netG_120000.pth")
    for i, name in enumerate(["D_NET64", "D_NET128"]):
        torch.save(_official_state(shapes[name]), tmp_path / f"netD{i}.pth")
    out = tmp_path / "model"
    rc = main(["import-stackgan-v2", str(tmp_path / "netG_120000.pth"), "--discriminators",
               str(tmp_path / "netD0.pth"), str(tmp_path / "netD1.pth"), "--out", str(out)])
    assert rc == 0
    cfg, state, encoder, meta = load_model(out)
    assert (cfg.stages, cfg.ngf, cfg.ndf, cfg.z_dim, cfg.c_dim, cfg.text_dim) == (2, 64, 64, 100, 128, 1024)
    assert not cfg.pam and not cfg.cam and encoder["kind"] == "char-cnn-rnn"
    for k, v in g_state.items():
        torch.testing.assert_close(state[k[len("module."):]], v)
    g = build_generator(cfg, init=False)
    g.load_state_dict(state)
    assert (out / "discriminators.safetensors").exists() and len(meta["generator_sha256"]) == 64


def test_import_refuses_foreign_and_unsafe_files(tmp_path, reference_shapes, capsys):
    from gtgan.cli import main

    shapes = dict(reference_shapes["state_dict_shapes"]["G_NET_2stages"])
    shapes["h_net2.upsample.1.weight"] = [64, 64, 5, 5]
    torch.save(_official_state(shapes), tmp_path / "wrong.pth")
    assert main(["import-stackgan-v2", str(tmp_path / "wrong.pth"), "--out", str(tmp_path / "o")]) == 2
    assert "h_net2.upsample.1.weight" in capsys.readouterr().err
    torch.save({"foo": torch.zeros(2)}, tmp_path / "foreign.pth")
    assert main(["import-stackgan-v2", str(tmp_path / "foreign.pth"), "--out", str(tmp_path / "o")]) == 2
    assert "not a StackGAN-v2 generator" in capsys.readouterr().err

    class Evil:
        def __reduce__(self):
            return (print, ("EXECUTED",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    assert main(["import-stackgan-v2", str(tmp_path / "evil.pth"), "--out", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert "EXECUTED" not in captured.out and "nothing in it was run" in captured.err
    assert not (tmp_path / "o").exists()


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "gtgan.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "import-stackgan-v2" in out.stdout
    out = subprocess.run([sys.executable, "-m", "gtgan.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("gtgan ")


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_position_attention_uses_a_fused_kernel(channels_last, dtype):
    """The math fallback materialises N x N; forcing flash-only must still work (CPU and CUDA)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    m = PositionAttention(16).to(dtype)
    x = torch.randn(2, 16, 16, 16, dtype=dtype)
    if channels_last:
        m, x = m.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        m(x).sum().backward()
    assert x.grad is not None


def test_placement_starts_as_the_identity_and_moves_the_drawing_as_its_transform_says():
    """model.placement: zero-initialised it changes nothing; a set shift, scale or turn moves,
    shrinks or turns a feature map's content the stated way; its layer learns from the loss."""
    from gtgan.models.generator import Placement
    torch.manual_seed(0)
    assert build_generator(ModelConfig(**TINY)).placement is None
    torch.manual_seed(0)
    plain = build_generator(ModelConfig(**TINY)).eval()
    torch.manual_seed(0)
    placed = build_generator(ModelConfig(**TINY, placement=True)).eval()
    t, z, eps = TextFeatures(torch.randn(3, 24)), torch.randn(3, 8), torch.zeros(3, 8)
    with torch.no_grad():
        for a, b in zip(plain(t, z, eps).images, placed(t, z, eps).images):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    p = Placement(4)
    h = torch.zeros(1, 1, 32, 32)
    h[0, 0, 12:20, 12:20] = 1.0  # an 8 x 8 square in the middle
    code = torch.zeros(1, 4)

    def centre_and_area(bias):
        with torch.no_grad():
            p.bias.copy_(torch.tensor(bias))
            out = p(h, code)[0, 0]
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        return (float((out * xs).sum() / out.sum()), float((out * ys).sum() / out.sum()),
                float(out.sum()))

    x0, y0, area0 = centre_and_area([0.0, 0.0, 0.0, 0.0])
    x1, y1, _ = centre_and_area([0.0, 0.0, 0.5, 0.0])  # shift right by 0.3 tanh(0.5) half-widths
    assert x1 - x0 == pytest.approx(16 * 0.3 * math.tanh(0.5), abs=0.2) and abs(y1 - y0) < 0.05
    _, _, area_small = centre_and_area([-1.0, 0.0, 0.0, 0.0])  # scale exp(-0.35 tanh 1)
    assert area_small / area0 == pytest.approx(math.exp(-0.7 * math.tanh(1.0)), rel=0.05)
    with torch.no_grad():  # a quarter turn of a bar standing up lays it down
        p.bias.copy_(torch.tensor([0.0, 10.0, 0.0, 0.0]))
        bar = torch.zeros(1, 1, 32, 32)
        bar[0, 0, 4:28, 15:17] = 1.0
        turned = p(bar, code)[0, 0]
    assert turned[:, 15:17].sum() < bar[0, 0].sum()  # a 23-degree turn moves it off the column
    placed.train()
    placed(t, z, eps).images[-1].mean().backward()
    assert placed.placement.weight.grad.abs().sum() > 0


def test_placement_keeps_the_mirror_by_noise():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(**TINY, mirror_noise=True, placement=True)).eval()
    with torch.no_grad():
        g.placement.bias.copy_(torch.tensor([0.3, 0.4, 0.5, -0.2]))
        g.placement.weight.normal_(0, 0.3)
    t = TextFeatures(torch.randn(1, 24).expand(2, -1))
    z = torch.randn(1, 8).expand(2, -1).clone()
    z[0, 0], z[1, 0] = 0.7, -0.7
    with torch.no_grad():
        for im in g(t, z, torch.zeros(2, 8)).images:
            assert torch.allclose(im[1], im[0].flip(2), atol=1e-6)
            assert not torch.allclose(im[1], im[0], atol=1e-3)
