"""`gtgan demo`: the whole tool on a laptop CPU in a bounded time.

Makes the built-in synthetic birds, trains the `demo` preset, evaluates it on held-out
captions (colour combinations the training set never shows) and writes one folder with a
sample grid, an interpolation strip, loss plots, the metrics table and an HTML report.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .config import RunConfig, apply_overrides
from .data import BOW_DIM, build_dataset, build_encoder, data_identity
from .device import resolve_device
from .errors import GtganError
from .models import TextFeatures, build_generator
from .demo_report import EVAL_METRICS, stages_line, write_figures, write_html
from .presets import get_preset
# gtgan.metrics and gtgan.training are imported where used: those two packages (torchmetrics,
# tensorboard) take seconds to import. The defaults the CLI shows live in config.py, so that
# building the CLI's parser imports no torch.
from .config import DEMO_EVAL_SAMPLES as DEFAULT_EVAL_SAMPLES, DEMO_MINUTES as DEFAULT_MINUTES


# Evaluation cost per sample in units of one generator pass at both scales (measured: the
# diversity metric's second sample, the judge on generated and real pictures, SSIM, the shape
# measure's features). Refit with `benchmarks/demo_budget.py` when the evaluation changes.
# benchmarks/demo_budget.py measured 8.9 on a loaded machine; three full demo runs took 13.4
# (native bf16), 13.8 (AVX2, 2 threads) and 24 (AVX2, 1 thread, the other core busy).
EVAL_COST_PER_SAMPLE = 14.0
# Data sets, judge loading, the shape measure's reference and anchors (1,250 pictures through
# Lite0). Refitted for lite0_fd from the two full demos of 2026-12-06 (docs/demo.md): with 40 s
# they spent 98 s against 76 planned (bf16) and 88 s against 81 (AVX2 fp32); 55 s puts the plan
# at 91 and 96 s, within the 5% margin either way.
EVAL_FIXED_S = 55.0
EVAL_FIXED_PASSES = 500  # own_words: 40 captions x 8 pictures, judged
FIGURE_IMAGES = 120  # sample grids at both scales, interpolation strip, real pictures
MIN_EVAL_SAMPLES = 100
# Epochs per minute of budget unless optim.epochs is stated: 9,300 steps a minute, beyond any
# machine's pace, so the minutes decide when the demo's training ends.
DEMO_EPOCHS_PER_MINUTE = 100
MIN_TRAIN_SHARE = 0.5  # evaluation shrinks (fewer samples) before training gets less than this


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
    given = given_keys(None, list(overrides))
    encoder_for(cfg, given)
    if "optim.epochs" not in given:
        # The demo's contract is its minutes: the preset's 100 epochs (9,300 steps) would end
        # a 90-minute demo after about 64 minutes on a 2-core CPU, before stage 2 had its share.
        cfg.optim.epochs = max(cfg.optim.epochs, DEMO_EPOCHS_PER_MINUTE * math.ceil(minutes))
    cfg.validate()
    cfg.run.max_minutes = float(minutes)  # a placeholder until plan_budget has measured
    return cfg


def prepare_evaluation(cfg: RunConfig, opts, log: Callable[[str], None]) -> dict:
    """Load the attribute (and pose) judges from the cache, or train them, before training
    starts: their minutes are then known when the budget is planned, and evaluation finds them
    cached."""
    from .metrics import EvalContext

    encoder = build_encoder(cfg.data.encoder)
    sizes, seed = cfg.model.image_sizes, cfg.run.seed
    test_set = build_dataset(cfg.data, "test", sizes, train=False, seed=seed, encoder=encoder)
    ctx = EvalContext(opts, test_set, sizes, log=log,
                      data_ident=data_identity(cfg.data, getattr(test_set, "split", "test"), test_set),
                      train_set_factory=lambda: build_dataset(cfg.data, "train", sizes, train=False,
                                                              seed=seed, encoder=encoder))
    info = getattr(ctx.judge(), "info", {})
    if "pose" in opts.metrics:  # the pose judge too: evaluation then finds it cached
        from .metrics.pose import load_or_train_pose_judge
        load_or_train_pose_judge(ctx)
    return info


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


def check_out_dir(out: Path, force: bool) -> None:
    """`--out` must be missing, empty, or (with --force) a folder `gtgan demo` made."""
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
    check_out_dir(out, force)
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
    log(f"      {stages_line(result)}")

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
