"""`gtgan encoder train`: a DAMSM learned from a data set's own captions, in a run folder.

OUT/
  config.yaml     the EncoderTrainConfig            vocab.json   built from the train captions
  env.json        versions, device, command          metrics.jsonl  losses, R-precision, events
  plots/          loss.png, s_loss.png, w_loss.png, eval_r_precision_real.png
  checkpoints/    step-XXXXXXXX/ (text, image, optimiser and RNG state; storage.checkpoint)
  encoder/        the encoder folder (gtgan.data.damsm_folder), rewritten at every checkpoint

Resume continues the latest good checkpoint at the same step, data order and learning rate.
Evaluation (R-precision on real test pictures) comes from the caller (`eval_fn`), since
training imports no metrics.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import ConfigError, apply_overrides, from_dict, save_yaml
from ..data import EpochSampler, build_dataset, data_kind
from ..data.base import item_rng, load_size, multiscale_views
from ..data.damsm_folder import RUN_ENCODER_DIR, Damsm, save_damsm
from ..data.damsm_vocab import Vocabulary
from ..data.encoders import TextEncoder
from ..device import resolve_device, rng_state, seed_everything, set_rng_state
from ..errors import DataError
from ..fileio import FileFormatError, read_yaml
from ..models.damsm import DamsmTextNet
from ..storage.checkpoint import latest_good_checkpoint, save_checkpoint
from ..storage.damsm_init import initial_image_net
from .damsm_config import EncoderTrainConfig
from .damsm_losses import damsm_losses
from .plots import write_plots
from .guard import StartRecord, sweep_run
from .progress import StopBar, StopRule
from .rundir import (CONFIG, METRICS, MetricsLog, RunDirError, RunLock, append_env, check_new_run_dir,
                     env_record)
from .stop_signals import StopSignals

VOCAB = "vocab.json"
COMMAND = "gtgan encoder train"
CURVES = (("loss", "DAMSM loss (w0 + w1 + s0 + s1)"), ("s_loss", "sentence-level loss (s0 + s1)"),
          ("w_loss", "word-level loss (w0 + w1)"))
EvalFn = Callable[[Damsm, Any], dict]  # (damsm, real test split) -> {"r_precision": ...}


class _CaptionsOnly(TextEncoder):
    """The data sets want a text encoder; encoder training reads the captions' text instead."""

    kind = "captions-only"
    identity = {"kind": "captions-only", "name": "", "dim": 1}

    def encode(self, captions):
        return torch.zeros(len(list(captions)), 1)


def encoder_datasets(cfg: EncoderTrainConfig, train_only: bool = False):
    """(train split, test split or None) of cfg.data, images only at the encoder's size."""
    sizes = [cfg.damsm.image_size]
    enc = _CaptionsOnly()
    train = build_dataset(cfg.data, "train", sizes, train=True, seed=cfg.run.seed, encoder=enc)
    if train_only:
        return train, None
    try:
        test = build_dataset(cfg.data, "test", sizes, train=False, seed=cfg.run.seed, encoder=enc)
    except DataError:
        test = None
    return train, test


def all_captions(dataset) -> list[str]:
    return [c for i in range(len(dataset)) for c in dataset.captions(i)]


@dataclass
class EncoderTrainResult:
    out: Path
    step: int
    epoch: int
    status: str  # finished | max_steps | max_minutes | signal
    elapsed_s: float
    evaluation: dict | None

    @property
    def message(self) -> str:
        rp = (self.evaluation or {}).get("r_precision")
        said = (f"; R-precision on real test pictures {rp:.3f}" if rp is not None
                else "; no test split, so no R-precision")
        more = (f"; continue with `gtgan encoder train --resume {self.out}`"
                if self.status != "finished" else "")
        return (f"{self.status} at step {self.step} (epoch {self.epoch}) after {self.elapsed_s:.0f} s"
                f"{said}; encoder folder {self.out / RUN_ENCODER_DIR}{more}")


def train_encoder(cfg: EncoderTrainConfig | None, out: str | Path, *, resume: bool = False,
                  overrides: list[str] | tuple[str, ...] = (),
                  make_eval_fn: Callable[[EncoderTrainConfig], EvalFn] | None = None,
                  progress: bool = True, command: list[str] | None = None) -> EncoderTrainResult:
    """Train a DAMSM into `out` (new: missing or empty; `resume`: its own config.yaml, with
    `overrides` of run.* only). `make_eval_fn(cfg)` gives the R-precision hook."""
    out = Path(out)
    if resume:
        if not (out / CONFIG).exists() or not (out / VOCAB).exists():
            raise RunDirError(f"{out}: not a `{COMMAND}` run ({CONFIG} or {VOCAB} missing)")
        bad = [o for o in overrides if not o.split("=", 1)[0].strip().startswith("run.")]
        if bad:
            raise ConfigError(f"--set {', '.join(bad)}: only run.* may change on --resume (the "
                              "rest would change what the run computes)")
        cfg = apply_overrides(load_encoder_config(out / CONFIG), list(overrides))
    else:  # a quick look; the decisive one is made holding the lock (StartRecord.open)
        check_new_run_dir(out, (VOCAB,), command=COMMAND)
    cfg.validate()
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    device = resolve_device(cfg.run.device)
    # Everything that can fail runs before the folder is made: data, vocabulary, weights.
    train_set, test_set = encoder_datasets(cfg)
    vocab = Vocabulary.load(out / VOCAB) if resume else Vocabulary.build(all_captions(train_set))
    if len(train_set) < cfg.optim.batch_size:
        raise DataError(f"the training split has {len(train_set)} images, fewer than "
                        f"optim.batch_size ({cfg.optim.batch_size}); use --set optim.batch_size=N")
    seed_everything(cfg.run.seed)
    check_cache_memory(cfg, len(train_set))
    image_net, image_info = initial_image_net(cfg.damsm, cfg.image_weights, cfg.run.seed)
    text_net = DamsmTextNet(len(vocab), cfg.damsm)
    eval_fn = make_eval_fn(cfg) if make_eval_fn is not None else None
    lock = _resume_lock(out) if resume else StartRecord(out).open((VOCAB,), COMMAND)
    try:
        if not resume:
            vocab.save(out / VOCAB)  # before CONFIG, whose presence makes the folder a run
        if not resume or overrides:
            save_yaml(cfg, out / CONFIG)  # the record follows what runs now
        job = _EncoderRun(cfg, out, Damsm(cfg.damsm, vocab, text_net, image_net, {"image": image_info}),
                          image_info,
                          train_set, test_set, device, eval_fn, progress)
        return job.run(resume, lambda step: append_env(out, env_record(
            device, 1, command, "resume" if resume else "start", step)))
    finally:
        lock.__exit__()


def _resume_lock(out: Path) -> RunLock:
    """The lock of a run to resume, then the look at it (another process may have changed it
    between the caller's first look and now)."""
    lock = RunLock(out).__enter__()
    sweep_run(out)
    if not (out / CONFIG).exists() or not (out / VOCAB).exists():
        lock.__exit__()
        raise RunDirError(f"{out}: not a `{COMMAND}` run ({CONFIG} or {VOCAB} missing)")
    return lock


class _EncoderRun:
    def __init__(self, cfg, out, damsm, image_info, train_set, test_set, device, eval_fn, progress):
        self.cfg, self.out, self.damsm, self.image_info = cfg, out, damsm.to(device), image_info
        self.train_set, self.test_set, self.device = train_set, test_set, device
        self.eval_fn, self.progress = eval_fn, progress
        params = list(damsm.text_net.parameters()) + [p for p in damsm.image_net.parameters()
                                                       if p.requires_grad]
        self.params = params
        self.lr = cfg.optim.lr
        self.opt = self._adam()
        self.step = self.epoch = self.position = 0
        self.last_eval: dict | None = None
        self.metrics = MetricsLog(out / METRICS)
        self.cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _adam(self) -> torch.optim.Adam:
        o = self.cfg.optim
        return torch.optim.Adam(self.params, lr=self.lr, betas=(o.beta1, o.beta2))

    # ------------------------------------------------------------ resume
    def _resume(self) -> None:
        ckpt, loaded = latest_good_checkpoint(self.out / "checkpoints")
        if ckpt is None:  # killed before its first checkpoint: it starts again from step 0
            self.metrics.truncate_after(0)
            return
        weights, tstate, lstate = loaded
        self.damsm.text_net.load_state_dict(weights["text"])
        self.damsm.image_net.load_state_dict(weights["image"])
        self.opt.load_state_dict(tstate["optim"])
        set_rng_state(tstate["rng"])
        self.step, self.epoch, self.position = (int(lstate[k]) for k in ("step", "epoch", "position"))
        self.lr = float(lstate["lr"])
        for group in self.opt.param_groups:
            group["lr"] = self.lr
        self.last_eval = lstate.get("last_eval")
        self.metrics.truncate_after(self.step)

    # ------------------------------------------------------------ data
    def _image(self, i: int, rng) -> torch.Tensor:
        size = self.cfg.damsm.image_size
        return multiscale_views(self.train_set.load_image(i, load_size([size])), [size],
                                rng if self.cfg.augment else None)[0]

    def _batch(self, indices: list[int]):
        """(images, or with feature_cache_views the backbone's (regions, pooled) features;
        token ids; lengths; class ids) of one batch."""
        ds, views, rngs, images, captions = self.train_set, self.cfg.feature_cache_views, [], [], []
        for i in indices:
            rng = item_rng(self.cfg.run.seed, self.epoch, i, salt=7)
            caps = ds.captions(i)
            captions.append(caps[int(rng.integers(len(caps)))])
            if not views:
                images.append(self._image(i, rng))
            rngs.append(rng)
        ids, lengths = self.damsm.vocab.batch(captions, self.cfg.damsm.max_words, rngs)
        classes = torch.as_tensor(ds.class_ids[indices], dtype=torch.long)
        visual = self._cached_features(indices, self.epoch % views) if views else torch.stack(images)
        return visual, ids, lengths, classes

    def _cached_features(self, indices: list[int], view: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen backbone's features of view `view` of each picture, computed once (fp16
        on the CPU); a view's crop and flip are drawn from (seed, view, picture) alone."""
        missing = [i for i in dict.fromkeys(indices) if (i, view) not in self.cache]
        if missing:
            imgs = torch.stack([self._image(i, item_rng(self.cfg.run.seed, view, i, salt=11))
                                for i in missing])
            regions, pooled = self.damsm.image_net.backbone_features(imgs.to(self.device))
            for i, r, p in zip(missing, regions.half().cpu(), pooled.half().cpu()):
                self.cache[(i, view)] = (r, p)
        feats = [self.cache[(i, view)] for i in indices]
        return torch.stack([f[0] for f in feats]), torch.stack([f[1] for f in feats])

    # ------------------------------------------------------------ loop
    def run(self, resume: bool, started: Callable[[int], None]) -> EncoderTrainResult:
        """`started(step)`: told the step this start or resume begins at, once it is known."""
        t0 = time.monotonic()
        if resume:
            self._resume()
        started(self.step)
        cfg = self.cfg
        sampler = EpochSampler(len(self.train_set), cfg.optim.batch_size, cfg.run.seed)
        total = cfg.optim.epochs * sampler.steps_per_epoch
        if cfg.run.max_steps > 0:
            total = min(total, cfg.run.max_steps)
        limit_s = cfg.run.max_minutes * 60 if cfg.run.max_minutes > 0 else math.inf
        rule = StopRule(total, cfg.optim.epochs * sampler.steps_per_epoch, limit_s, t0)
        bar = StopBar(rule, self.step, f"DAMSM {cfg.name}") if self.progress else None
        window: dict[str, float] = {}
        window_n, window_t, fields = 0, time.monotonic(), None
        full = cfg.optim.epochs * sampler.steps_per_epoch
        status = None if self.step < total else ("max_steps" if self.step < full else "finished")
        signals = StopSignals(True)
        with signals:
            while status is None:
                if self.position >= sampler.steps_per_epoch:
                    self._end_epoch()
                    continue
                if cfg.optim.reset_adam_each_epoch and self.position == 0:
                    self.opt = self._adam()
                vals = self._step(sampler.batches(self.epoch, self.position)[0])
                rule.step_done()
                for k, v in vals.items():
                    window[k] = window.get(k, 0.0) + v
                window_n += 1
                if self.step % cfg.run.log_every == 0 or self.step == 1:
                    now = time.monotonic()
                    rec = {"kind": "train", "step": self.step, "epoch": self.epoch,
                           "epoch_float": round(self.epoch + self.position / sampler.steps_per_epoch, 5),
                           **{k: v / window_n for k, v in window.items()}, "lr": self.lr,
                           "steps_per_s": round(window_n / max(now - window_t, 1e-9), 3),
                           "elapsed_s": round(now - t0, 2)}
                    self.metrics.write(rec)
                    fields = {"loss": f"{rec['loss']:.2f}", "s": f"{rec['s_loss']:.2f}",
                              "w": f"{rec['w_loss']:.2f}"}
                    window, window_n, window_t = {}, 0, now
                if bar is not None:
                    bar.step(self.step, fields)
                    fields = None
                if self.position >= sampler.steps_per_epoch:
                    self._end_epoch()
                if cfg.run.checkpoint_every > 0 and self.step % cfg.run.checkpoint_every == 0:
                    self._checkpoint()
                if signals.received is not None:
                    status = "signal"
                elif rule.time_up():
                    status = "max_minutes"
                elif self.step >= total:
                    status = "max_steps" if self.step < full else "finished"
        if bar is not None:
            bar.close()
        if (self.last_eval or {}).get("step") != self.step:  # unless this step was just measured
            self._evaluate(final=True)
        self._checkpoint()
        self.metrics.write({"kind": "event", "event": status, "step": self.step, "epoch": self.epoch,
                            "elapsed_s": round(time.monotonic() - t0, 2)})
        self.metrics.close()
        write_plots(self.out / METRICS, self.out / "plots", CURVES)
        return EncoderTrainResult(self.out, self.step, self.epoch, status,
                                  time.monotonic() - t0, self.last_eval)

    def _step(self, batch) -> dict[str, float]:
        """One update of the DAMSM's matching losses on `batch` (item indices); its losses."""
        cfg, d = self.cfg, self.damsm
        visual, ids, lengths, classes = self._batch(batch)
        d.text_net.train()
        d.image_net.train()
        regions, code = (d.image_net.project(*(v.to(self.device) for v in visual))
                         if isinstance(visual, tuple) else d.image_net(visual.to(self.device)))
        words, sent = d.text_net(ids.to(self.device), lengths)
        losses = damsm_losses(regions, code, words, sent, lengths, classes.to(self.device),
                              cfg.gammas)
        self.opt.zero_grad(set_to_none=True)
        w = cfg.word_loss_weight
        (losses["loss"] if w == 1 else losses["loss"] - (1 - w) * (losses["w_loss0"] + losses["w_loss1"])
         ).backward()
        torch.nn.utils.clip_grad_norm_(d.text_net.parameters(), cfg.optim.grad_clip)
        self.opt.step()
        self.step += 1
        self.position += 1
        vals = {k: float(v.detach()) for k, v in losses.items()}
        vals["s_loss"], vals["w_loss"] = vals["s_loss0"] + vals["s_loss1"], vals["w_loss0"] + vals["w_loss1"]
        if not all(math.isfinite(v) for v in vals.values()):
            raise DataError(f"the DAMSM loss became {vals['loss']} at step {self.step}; lower "
                            "optim.lr or resume from the last checkpoint")
        return vals

    def _end_epoch(self) -> None:
        o = self.cfg.optim
        self.epoch, self.position = self.epoch + 1, 0
        if self.lr > o.lr * o.lr_floor:
            self.lr *= o.lr_decay
            for group in self.opt.param_groups:
                group["lr"] = self.lr
        every = self.cfg.run.eval_every_epochs
        if every > 0 and self.epoch % every == 0:
            self._evaluate()

    def _evaluate(self, final: bool = False) -> dict | None:
        if self.eval_fn is None or self.test_set is None:
            return None
        t = time.monotonic()
        res = self.eval_fn(self.damsm, self.test_set)
        self.last_eval = {**res, "step": self.step, "epoch": self.epoch,
                          "seconds": round(time.monotonic() - t, 2)}
        rec = {"kind": "eval", "step": self.step, "epoch": self.epoch,
               "r_precision_real": res.get("r_precision")}
        if final:
            rec["final"] = True
        self.metrics.write(rec)
        return self.last_eval

    def _checkpoint(self) -> None:
        d = self.damsm
        loop_state = {"epoch": self.epoch, "position": self.position, "lr": self.lr,
                      "seed": self.cfg.run.seed, "last_eval": self.last_eval,
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.metrics.sync()
        save_checkpoint(self.out / "checkpoints", self.step,
                        {"text": d.text_net.state_dict(), "image": d.image_net.state_dict()},
                        {"optim": self.opt.state_dict(), "rng": rng_state()}, loop_state,
                        keep=self.cfg.run.keep_checkpoints)
        meta = {"source": "gtgan encoder train", "run": str(self.out.resolve()), "preset": self.cfg.name,
                "step": self.step, "epoch": self.epoch, "data": _data_summary(self.cfg, self.train_set),
                "train_captions": sum(len(self.train_set.captions(i)) for i in range(len(self.train_set))),
                "evaluation": self.last_eval}
        save_damsm(self.out / RUN_ENCODER_DIR, d, self.image_info, meta)
        write_plots(self.out / METRICS, self.out / "plots", CURVES)


def _data_summary(cfg: EncoderTrainConfig, train_set) -> dict:
    data = cfg.data
    out = {"kind": data.kind, "train_split": data.train_split, "train_images": len(train_set)}
    kind = data_kind(data.kind)
    out.update({f: getattr(data, f) for f in sorted(kind.defining_fields)})
    if kind.needs_root:
        out["root"] = str(Path(data.root).expanduser().resolve())
    return out


CACHE_LIMIT_BYTES = 4 << 30


def check_cache_memory(cfg: EncoderTrainConfig, pictures: int) -> None:
    """Refuse a feature cache (feature_cache_views) larger than CACHE_LIMIT_BYTES, before work."""
    views, size = cfg.feature_cache_views, cfg.damsm.image_size
    if not views:
        return
    per_view = (112 * math.ceil(size / 16) ** 2 + 1280 if cfg.damsm.image_encoder == "efficientnet-lite0"
                else 768 * 17 * 17 * (size / 299) ** 2 + 2048)
    need = pictures * views * per_view * 2  # fp16
    if need > CACHE_LIMIT_BYTES:
        raise ConfigError(f"feature_cache_views = {views}: the cached features of {pictures:,} "
                          f"pictures would take {need / 2**30:.1f} GiB (limit "
                          f"{CACHE_LIMIT_BYTES / 2**30:.0f} GiB); use --set feature_cache_views=1, "
                          "or 0 (no cache: every step through the whole network)")


def load_encoder_config(path: str | Path) -> EncoderTrainConfig:
    """An EncoderTrainConfig from YAML (a run's config.yaml, or one written by hand)."""
    path = Path(path)
    try:
        cfg = from_dict(EncoderTrainConfig, read_yaml(path) or {})
        cfg.validate()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except FileFormatError as exc:
        raise ConfigError(str(exc)) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg
