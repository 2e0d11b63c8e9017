"""`gtgan demo`: the whole tool on a laptop CPU in a bounded time.

Makes the built-in synthetic birds, trains the `demo` preset, evaluates it on held-out
captions (colour combinations the training set never shows) and writes one folder with a
sample grid, an interpolation strip, loss plots, the metrics table and an HTML report.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .config import RunConfig, apply_overrides
from .data import BOW_DIM, build_dataset, build_encoder, data_identity
from .device import resolve_device
from .errors import GtganError
from .fileio import atomic_save_image, atomic_write_text
from .images import captioned_grid, image_strip, tensor_to_pil
from .models import TextFeatures, build_generator
from .pipeline import TextToImage
from .presets import get_preset
# gtgan.metrics and gtgan.training are imported where used: those two packages (torchmetrics,
# tensorboard) take seconds to import. The defaults the CLI shows live in config.py, so that
# building the CLI's parser imports no torch.
from .config import DEMO_EVAL_SAMPLES as DEFAULT_EVAL_SAMPLES, DEMO_MINUTES as DEFAULT_MINUTES

SAMPLES_PER_CAPTION = 6
EVAL_METRICS = ("attr", "own_words", "ssim", "diversity", "lite0_fd")  # what the report shows; its Reproduce line names them

# Evaluation cost per sample in units of one generator pass at both scales (measured: the
# diversity metric's second sample, the judge on generated and real pictures, SSIM, the shape
# measure's features). Refit with `benchmarks/demo_budget.py` when the evaluation changes.
# benchmarks/demo_budget.py measured 8.9 on a loaded machine; three full demo runs took 13.4
# (native bf16), 13.8 (AVX2, 2 threads) and 24 (AVX2, 1 thread, the other core busy).
EVAL_COST_PER_SAMPLE = 14.0
# Data sets, judge loading, the shape measure's reference and anchors (1,250 pictures through
# Lite0; judge_fid's reference, which they replace, took 38.6 s). Not yet refitted for lite0_fd.
EVAL_FIXED_S = 40.0
EVAL_FIXED_PASSES = 500  # own_words: 40 captions x 8 pictures, judged
FIGURE_IMAGES = 120  # sample grids at both scales, interpolation strip, real pictures
MIN_EVAL_SAMPLES = 100
MIN_TRAIN_SHARE = 0.5  # evaluation shrinks (fewer samples) before training gets less than this
# Without --rp-encoder the report says how to get R-precision (training the DAMSM, ~4.5 min on
# 2 CPU cores, does not fit in the demo's budget).
RP_HINT = ("R-precision was not measured: it needs a DAMSM for the synthetic birds. Train one (about "
           "5 minutes on 2 CPU cores): <code>gtgan encoder train synthetic --out damsm-birds</code>, "
           "then <code>gtgan demo --rp-encoder damsm-birds</code>.")


@dataclass
class DemoPlan:
    """How the demo spends its minutes: measured before training, printed and reported."""

    total_s: float
    prepare_s: float  # spent before training: data, the attribute judge, the calibration
    seconds_per_image: float  # one generator pass at every scale, eval mode, measured
    eval_samples: int
    eval_s: float  # estimated
    report_s: float  # estimated
    train_s: float
    warmup_fraction: float = 0.0  # optim.stage_warmup_fraction: stage 1 alone for this share
    rp_s: float = 0.0  # the part of eval_s that is R-precision (--rp-encoder), estimated

    def summary(self) -> str:
        m = lambda s: f"{s / 60:.1f} min"  # noqa: E731
        return (f"budget {m(self.total_s)}: preparation {m(self.prepare_s)} (spent), training "
                f"{m(self.train_s)} (64 px alone for the first {self.warmup_fraction:.0%}), "
                f"evaluation ~{m(self.eval_s)} ({self.eval_samples} samples per scale"
                f"{f'; R-precision ~{m(self.rp_s)} of it' if self.rp_s else ''}), report "
                f"~{m(self.report_s)}; this machine generates {1 / self.seconds_per_image:.0f} "
                "images/s at every scale")


def plan_budget(total_s: float, prepare_s: float, seconds_per_image: float,
                eval_samples: int = 500, warmup_fraction: float = 0.0,
                rp_fixed_s: float = 0.0, rp_s_per_sample: float = 0.0) -> DemoPlan:
    """Split what is left of `total_s` between training, evaluation and the report, from the
    machine's measured generation speed (and R-precision's measured cost, `measure_rp`). On
    a slow machine evaluation shrinks to MIN_EVAL_SAMPLES before training drops below
    MIN_TRAIN_SHARE of the budget."""
    report_s = 5.0 + FIGURE_IMAGES * seconds_per_image
    margin = 0.05 * total_s  # the last step, checkpoint and model folder; evaluation's spread

    per_sample = EVAL_COST_PER_SAMPLE * seconds_per_image + rp_s_per_sample

    def eval_time(n: int) -> float:
        return EVAL_FIXED_S + rp_fixed_s + EVAL_FIXED_PASSES * seconds_per_image + n * per_sample

    samples = int(eval_samples)
    spare = total_s - prepare_s - report_s - margin - MIN_TRAIN_SHARE * total_s
    if eval_time(samples) > spare:
        fit = int((spare - eval_time(0)) / per_sample)
        samples = max(min(samples, MIN_EVAL_SAMPLES), min(samples, fit))
    eval_s = eval_time(samples)
    train_s = total_s - prepare_s - report_s - margin - eval_s
    if train_s < 15:
        raise GtganError(f"--minutes {total_s / 60:g}: too short on this machine (preparation took "
                         f"{prepare_s:.0f} s and evaluating {samples} samples takes about "
                         f"{eval_s:.0f} s); give at least {(total_s - train_s + 60) / 60:.0f} minutes")
    return DemoPlan(total_s, prepare_s, seconds_per_image, samples, eval_s, report_s, train_s,
                    warmup_fraction, rp_fixed_s + samples * rp_s_per_sample)


def measure_generation(cfg: RunConfig, batch: int = 50, repeats: int = 2) -> float:
    """Seconds per image of one generator pass at every scale, eval mode, on this machine
    (random weights: the cost does not depend on them)."""
    device = resolve_device(cfg.run.device)
    # Widths and text_scale still open (0) are settled when training starts; the cost is the same.
    model = replace(cfg.model, text_dim=cfg.model.text_dim or BOW_DIM,
                    text_scale=cfg.model.text_scale or 1.0)
    g = build_generator(model).to(device).eval()
    z = torch.randn(batch, model.z_dim, device=device)
    text = TextFeatures(torch.randn(batch, model.text_dim, device=device))
    with torch.no_grad():
        g(text, z)  # warm-up: first-call allocations and kernel selection
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for _ in range(repeats):
            g(text, z)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - t) / (repeats * batch)


def demo_config(minutes: float, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The demo preset with the user's overrides; run.max_minutes is set by the plan."""
    if not minutes > 0:
        raise GtganError(f"--minutes {minutes}: must be positive")
    from .training.preflight import encoder_for, given_keys

    # Vector widths not stated follow the text encoder, as in `gtgan train` (a DAMSM: its d),
    # decided when training starts; a stated width that cannot fit fails here.
    cfg = apply_overrides(get_preset("demo"), list(overrides), validate=False)
    encoder_for(cfg, given_keys(None, list(overrides)))
    cfg.validate()
    cfg.run.max_minutes = float(minutes)  # a placeholder until plan_budget has measured
    return cfg


def prepare_evaluation(cfg: RunConfig, opts, log: Callable[[str], None]) -> dict:
    """Load the attribute judge from the cache, or train it, before training starts: its
    minutes are then known when the budget is planned, and evaluation finds it cached."""
    from .metrics import EvalContext

    encoder = build_encoder(cfg.data.encoder)
    sizes, seed = cfg.model.image_sizes, cfg.run.seed
    test_set = build_dataset(cfg.data, "test", sizes, train=False, seed=seed, encoder=encoder)
    ctx = EvalContext(opts, test_set, sizes, log=log,
                      data_ident=data_identity(cfg.data, getattr(test_set, "split", "test"), test_set),
                      train_set_factory=lambda: build_dataset(cfg.data, "train", sizes, train=False,
                                                              seed=seed, encoder=encoder))
    return getattr(ctx.judge(), "info", {})


def check_rp_encoder(cfg: RunConfig, spec: str):
    """--rp-encoder, checked before any work: a full DAMSM folder (checksums, image encoder),
    trained on synthetic birds (when its metadata says), whose vocabulary knows the held-out
    captions. Returns (the DAMSM, seconds loading and checking took: evaluation loads it again)."""
    from .data.damsm_folder import load_damsm
    from .metrics.rprecision import check_vocabulary

    t = time.monotonic()
    try:
        damsm = load_damsm(spec, image=True, device=resolve_device(cfg.run.device))
        data = (damsm.info.get("metadata") or {}).get("data") or {}
        if data.get("kind", "synthetic") != "synthetic":
            raise GtganError(f"a DAMSM trained on {data['kind']} data "
                             f"{data.get('root', '')}, not on the synthetic birds the demo evaluates")
        sizes = cfg.model.image_sizes
        check_vocabulary(damsm, build_dataset(cfg.data, "test", sizes, train=False, seed=cfg.run.seed,
                                              encoder=build_encoder(cfg.data.encoder)))
    except GtganError as exc:
        hint = "" if "gtgan encoder train" in str(exc) else (
            "; train one for the demo with `gtgan encoder train synthetic --out DIR`")
        named = str(Path(spec).expanduser()) in str(exc)  # load_damsm's errors name the folder
        raise GtganError(f"--rp-encoder{'' if named else ' ' + str(spec)}: {exc}{hint}") from None
    return damsm, time.monotonic() - t


def measure_rp(cfg: RunConfig, damsm, batch: int) -> tuple[float, float]:
    """(fixed seconds, seconds per sample) of R-precision in the demo's evaluation, measured
    here with this DAMSM on the held-out split (gtgan.metrics.rprecision.measure_cost)."""
    from .metrics.rprecision import measure_cost

    test_set = build_dataset(cfg.data, "test", cfg.model.image_sizes, train=False, seed=cfg.run.seed,
                             encoder=build_encoder(cfg.data.encoder))
    return measure_cost(damsm, test_set, cfg.model.image_sizes, cfg.run.seed, batch)


# What a demo folder holds (write_figures, write_html, write_report, the run): --force
# replaces a folder of these only.
DEMO_FILES = re.compile(r"^(report\.html|metrics\.(json|md)|run|real\.png|interpolation\.png|"
                        r"held_out_captions\.txt|samples_\d+\.png|[dg]_loss\.png|eval_.*\.png|"
                        r"\..*\.(tmp|old)-\d+.*)$")


def run_demo(out_dir: str | Path, minutes: float = DEFAULT_MINUTES,
             overrides: list[str] | tuple[str, ...] = (), force: bool = False,
             eval_samples: int = DEFAULT_EVAL_SAMPLES, progress: bool = True,
             log: Callable[[str], None] = print, rp_encoder: str | None = None) -> Path:
    """Prepare, train, evaluate and report within `minutes`; returns the HTML report's path.
    `rp_encoder`: a DAMSM folder for the synthetic birds; R-precision is then evaluated too
    (by default with the demo's own text encoder when that is a DAMSM)."""
    from .metrics import EvalOptions, evaluate_run, make_training_eval, write_report
    from .training import train
    from .training.preflight import given_keys
    from .training.rundir import remove_holding_lock

    t0 = time.monotonic()
    out = Path(out_dir)
    cfg = demo_config(minutes, overrides)
    if out.exists() and not out.is_dir():
        raise GtganError(f"{out}: is a file; choose another --out")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise GtganError(f"{out}: already exists and is not empty; choose another --out, "
                             "or add --force to replace it")
        foreign = sorted(p.name for p in out.iterdir() if not DEMO_FILES.match(p.name))
        if foreign or not ((out / "report.html").exists() or (out / "run").exists()):
            raise GtganError(f"{out}: --force only replaces a folder made by `gtgan demo`; this one "
                             f"holds {', '.join(foreign[:3]) or 'no demo report'}, which the demo "
                             "does not write; nothing was deleted")
    metrics, rp_cost, damsm = EVAL_METRICS, (0.0, 0.0), None
    if not rp_encoder and cfg.data.encoder.kind == "damsm":
        rp_encoder = cfg.data.encoder.name  # the demo's own DAMSM scores R-precision by default
    if rp_encoder:
        damsm, load_s = check_rp_encoder(cfg, rp_encoder)
        metrics = EVAL_METRICS + ("r_precision",)
        if not str(rp_encoder).startswith("builtin:"):  # a portable name stays as given
            rp_encoder = str(damsm.path)
    opts = EvalOptions(metrics=metrics, samples=eval_samples, seed=0, progress=progress,
                       rp_encoder=rp_encoder)

    log("[1/4] preparing: the attribute judge (cached after the first demo) and this machine's speed")
    judge = prepare_evaluation(cfg, opts, log=lambda m: log("      " + m))
    if damsm is not None:
        fixed, per_sample = measure_rp(cfg, damsm, opts.batch_size)
        rp_cost = (load_s + fixed, per_sample)
        log(f"      R-precision with {damsm.describe()}: {fixed + load_s:.1f} s fixed, "
            f"{1000 * per_sample:.1f} ms per sample (measured)")
        del damsm
    plan = plan_budget(minutes * 60, time.monotonic() - t0, measure_generation(cfg), eval_samples,
                       cfg.optim.stage_warmup_fraction, *rp_cost)
    cfg.run.max_minutes = plan.train_s / 60
    log(f"      {'cached judge' if judge.get('cached') else 'judge trained'}; {plan.summary()}")
    if out.exists():  # only now, after the plan: a budget too short leaves nothing behind
        remove_holding_lock(out, out / "run")  # never a demo still training
    out.mkdir(parents=True, exist_ok=True)
    spent = {"preparation": time.monotonic() - t0}

    t = time.monotonic()
    log(f"[2/4] training the demo model on synthetic birds for {cfg.run.max_minutes:.1f} min "
        f"(device {cfg.run.device}); run directory {out / 'run'}")
    result = train(cfg, out / "run", progress=progress, command=["gtgan", "demo"],
                   make_eval_fn=make_training_eval, stated=given_keys(None, list(overrides)))
    spent["training"] = time.monotonic() - t
    log(f"      {result.message}")
    log(f"      {_stages_line(result)}")

    t = time.monotonic()
    opts.samples = plan.eval_samples
    log(f"[3/4] evaluating on held-out captions ({', '.join(metrics)}; "
        f"{plan.eval_samples} samples per scale)")
    report = evaluate_run(out / "run", opts, split="test")
    json_path, md_path = write_report(report, out / "metrics.json")
    spent["evaluation"] = time.monotonic() - t

    t = time.monotonic()
    log("[4/4] writing samples and the report")
    figures = write_figures(out / "run", out)
    spent["report"] = time.monotonic() - t
    budget = budget_rows(plan, spent, result)
    page = write_html(out, cfg, result, report, md_path.read_text(), figures,
                      time.monotonic() - t0, budget, metrics, rp_encoder)
    log("      how the budget was spent: " + "; ".join(
        f"{name} {row['spent_s'] / 60:.1f} min (planned {row['planned_s'] / 60:.1f})"
        for name, row in budget.items()))
    log(f"done in {(time.monotonic() - t0) / 60:.1f} min. Open {page.resolve()}")
    log(f"Try your own captions: gtgan generate {out / 'run'} \"your caption\" -o mine.png")
    log(f"Or type them into a web page: gtgan serve {out / 'run'}   (then open http://127.0.0.1:7860)")
    return page


def _stages_line(result) -> str:
    end = result.warmup_end_step
    if end is None:
        return (f"all {result.step} steps trained stage 1 (64 px) alone: the warm-up share of "
                "the budget never ended, so the 128 px stage is untrained")
    if end == 0:
        return f"{result.step} steps with both stages"
    return (f"steps 1-{end}: stage 1 (64 px) alone; steps {end + 1}-{result.step}: both stages "
            f"(64 + 128 px)")


def rp_headline(rp: dict | None) -> str:
    """", R-precision 0.62 (real pictures 0.95, chance 0.01)" for the first line; "" unmeasured."""
    if not rp or rp.get("mean") is None:
        return ""
    real, chance = (rp.get("real") or {}).get("mean"), rp.get("chance", 0.01)
    return (f", R-precision {rp['mean']:.2f} (" + ("" if real is None else f"real pictures {real:.2f}, ")
            + f"chance {chance:.2f})")


def budget_rows(plan: DemoPlan, spent: dict[str, float], result) -> dict[str, dict]:
    """Planned against spent seconds per part, for the terminal and the report."""
    planned = {"preparation": plan.prepare_s, "training": plan.train_s,
               "evaluation": plan.eval_s, "report": plan.report_s}
    rows = {k: {"planned_s": round(planned[k], 1), "spent_s": round(spent.get(k, 0.0), 1)}
            for k in planned}
    rows["training"]["steps"] = result.step
    rows["training"]["stage_warmup_end_step"] = result.warmup_end_step
    rows["evaluation"]["samples_per_scale"] = plan.eval_samples
    return rows


def held_out_captions(test_set, count: int = 8) -> list[str]:
    """One caption 0 (it names body, wing and crown) per held-out (body, wing) pair."""
    seen, captions = set(), []
    for i in range(len(test_set)):
        attrs = test_set.attributes(i)
        key = (attrs["body"], attrs["wing"])
        if key not in seen:
            seen.add(key)
            captions.append(test_set.captions(i)[0])
        if len(captions) == count:
            break
    return captions


def write_figures(run_dir: Path, out: Path) -> dict[str, str]:
    """Sample grid (held-out captions), interpolation strip, loss plots; names relative to out."""
    pipe = TextToImage.from_pretrained(run_dir, device="cpu")
    cfg = pipe.run_config
    test_set = build_dataset(cfg.data, "test", pipe.image_sizes, train=False, seed=cfg.run.seed)
    captions = held_out_captions(test_set)
    figures = {}
    for size in pipe.image_sizes:  # stage 1 (64 px) learns colours first; show every scale
        grid = pipe.generate_grid_tensors(captions, SAMPLES_PER_CAPTION, seed=0, scale=size)
        atomic_save_image(out / f"samples_{size}.png",
                          captioned_grid([tensor_to_pil(r) for r in grid], captions, text_width=330))
        figures[f"samples_{size}"] = f"samples_{size}.png"
    real_rows = []
    for cap in captions:  # the real held-out picture each caption was written for
        i = next(i for i in range(len(test_set)) if test_set.captions(i)[0] == cap)
        real_rows.append(tensor_to_pil(test_set.real_image(i, pipe.image_sizes[-1])[None]))
    atomic_save_image(out / "real.png", captioned_grid(real_rows, captions, text_width=330))
    figures["real"] = "real.png"
    strip = pipe.interpolate_captions(captions[0], captions[1], steps=8, seed=0)
    atomic_save_image(out / "interpolation.png",
                      image_strip(strip, f"{captions[0][:60]} -> {captions[1][:60]}"))
    figures["interpolation"] = "interpolation.png"
    for plot in sorted((run_dir / "plots").glob("*.png")):
        shutil.copyfile(plot, out / plot.name)
        figures[plot.stem] = plot.name
    (out / "held_out_captions.txt").write_text("\n".join(captions) + "\n")
    return figures


def write_html(out: Path, cfg: RunConfig, result, report: dict, metrics_md: str,
               figures: dict[str, str], seconds: float, budget: dict | None = None,
               metrics: tuple[str, ...] = EVAL_METRICS, rp_encoder: str | None = None) -> Path:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    headline = []
    for size, res in sorted(report.get("results", {}).items(), key=lambda kv: int(kv[0])):
        a = res.get("attr", {})
        div = res.get("diversity", {}).get("ratio")
        own = (res.get("own_words") or {}).get("all", {}).get("accuracy")
        shape = res.get("lite0_fd") or {}
        blob = shape.get("position")
        headline.append(f"{size} px: <b>{pct(a.get('accuracy'))}</b> (real pictures "
                        f"{pct(a.get('real_accuracy'))}, chance {pct(a.get('chance'))})"
                        + ("" if own is None else f", captions in other words {pct(own)}")
                        + ("" if div is None else f", diversity {div:.2f}")
                        + ("" if blob is None else f", shape FD {shape['value']:.1f} (real "
                           f"{shape['real']:.1f}, blurred {shape['blurred_real']:.1f}, blobs "
                           f"{shape['blobs']:.1f}: position {blob:.2f}, 0 real, 1 blurred)")
                        + rp_headline(res.get("r_precision")))

    esc = html.escape
    damsm = report.get("weights", {}).get("r_precision_damsm")
    rp_html = RP_HINT if damsm is None else (
        f"R-precision: does the DAMSM {esc(str(damsm.get('hash')))} ({esc(str(damsm.get('description')))}; "
        f"image encoder {esc(str(damsm.get('image_weights_description')))}; {esc(str(damsm.get('path')))}) "
        "rank each picture's own caption first among 100 (99 of other classes)? The real pictures' "
        "R-precision beside it is the ceiling (docs/evaluation.md).")
    budget_html = ""
    if budget:
        rows = "".join(f"<tr><td>{esc(k)}</td><td>{v['planned_s'] / 60:.1f}</td>"
                       f"<td>{v['spent_s'] / 60:.1f}</td></tr>" for k, v in budget.items())
        budget_html = (f"<h2>How the {seconds / 60:.1f} minutes were spent</h2><table border=1 "
                       f"cellpadding=4><tr><th>part</th><th>planned (min)</th><th>spent (min)</th>"
                       f"</tr>{rows}</table><p>{esc(_stages_line(result))}. The plan comes from "
                       "this machine's measured generation speed (docs/demo.md).</p>")
        atomic_write_text(out / "budget.json", json.dumps(budget, indent=1) + "\n")
    skip_note = (" With model.image_skip on, the 128 px picture is stage 2's refinement drawn on top"
                 " of the 64 px one, upsampled." if cfg.model.image_skip else "")
    samples = "".join(f'<h3>{esc(k.split("_")[1])} px</h3><img src="{esc(f)}">'
                      for k, f in figures.items() if k.startswith("samples_"))
    plots = "".join(f'<figure><img src="{esc(f)}"><figcaption>{esc(k)}</figcaption></figure>'
                    for k, f in figures.items()
                    if k not in ("real", "interpolation") and not k.startswith("samples_"))
    rp_arg = f" --rp-encoder {esc(rp_encoder)}" if rp_encoder else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gtgan demo report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
img{{max-width:100%;border:1px solid #ddd}} figure{{display:inline-block;margin:0.5em}}
pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:0.85em}} .big{{font-size:1.3em}}</style>
</head><body>
<h1>gtgan demo: Gt-StackGAN on synthetic birds</h1>
<p class="big">Attribute accuracy of generated birds on <b>held-out</b> captions:
{"; ".join(headline)}.</p>
<p>Diversity: how much the noise changes a caption's picture, relative to how much another
caption does (0 = every sample of a caption is the same picture). Captions in other words: 40
captions people might type ("a crimson-chested bird with azure pinions"). Shape: the Frechet
distance of the pictures from real ones in ImageNet EfficientNet-Lite0 features (not comparable
with published FIDs), beside real pictures, real pictures blurred until their outlines are gone
and one-colour blobs; position 0 is as close as real pictures, 1 as far as the blurred ones
(docs/evaluation.md).</p>
<p>{rp_html}</p>
{"".join(f"<p><b>{esc(x)}</b></p>" for x in report.get("labels", []) + report.get("warnings", []))}
<p>Trained the <code>demo</code> preset for {result.step} steps ({result.epoch} epochs,
{result.elapsed_s / 60:.1f} min) on {cfg.data.synthetic_count} synthetic birds on the
{esc(report.get('device', 'cpu'))}; the whole demo took {seconds / 60:.1f} min.
The captions below describe (body, wing) colour pairs that the training set never shows.</p>
{budget_html}
<h2>Generated from held-out captions</h2>
<p>Each row: one caption, {SAMPLES_PER_CAPTION} noise vectors (the same noise in every row).
Stage 1 (64 px) trains alone for the first part of the time (optim.stage_warmup_fraction), so it has had the most training.{skip_note}</p>
{samples}
<h2>The real pictures those captions describe</h2>
<img src="{figures['real']}">
<h2>Interpolating between two captions</h2>
<img src="{figures['interpolation']}">
<h2>Metrics</h2>
<pre>{esc(metrics_md)}</pre>
<h2>Training curves</h2>
{plots}
<h2>Reproduce</h2>
<pre>gtgan train --config {esc(str(out / 'run' / 'config.yaml'))} --out another_run
gtgan eval {esc(str(out / 'run'))} --metrics {','.join(metrics)}{rp_arg} --samples {report.get('samples')} --seed 0 --out eval.json
gtgan generate {esc(str(out / 'run'))} "a bird with a red body, blue wings and a yellow crown" -o mine.png
gtgan serve {esc(str(out / 'run'))}    # a web page to type captions into: http://127.0.0.1:7860 (docs/serve.md)</pre>
<p>The model folder <code>run/model</code> loads with
<code>gtgan.TextToImage.from_pretrained("{esc(str(out / 'run'))}")</code>.
Configuration (also in run/config.yaml):</p>
<pre>{esc(json.dumps(report.get('data', {}), indent=1))}</pre>
</body></html>
"""
    page = out / "report.html"
    atomic_write_text(page, body)
    return page
