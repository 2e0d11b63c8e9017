"""The training loop: a RunConfig and a run directory in, checkpoints, logs and a model out.

`train(cfg, run_dir)` starts a run in an empty (or missing) directory; `resume(run_dir)`
continues the latest checkpoint exactly (same step, data order and noise). Nothing here knows
about argparse. Under torchrun the same calls train with DistributedDataParallel; rank 0 writes.
"""
from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import ConfigError, RunConfig, apply_overrides, load_run_config, save_yaml
from ..errors import CheckpointError, DataError, GtganError
from . import distributed as D
from ..storage.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ..storage.loading import path_kind
from .device import (determinism_state, resolve_device, restore_determinism, rng_state,
                     seed_everything, set_deterministic, set_rng_state)
from .rundir import (CONFIG, ENCODER, METRICS, MetricsLog, RunLock, append_env, check_new_run_dir,
                     check_run_dir, env_record, write_json_atomic)
from .finetune import apply_init_weights
from .sampler import EpochSampler
from .step import GANStep, nonfinite

log = logging.getLogger("gtgan.training")

EvalFn = Callable[[torch.nn.Module, int], dict]
# Builds the hook once the run's device and test split exist: (cfg, device, test_set) -> EvalFn,
# e.g. gtgan.metrics.make_training_eval, passed in by the caller (training imports no metrics).
EvalFactory = Callable[[RunConfig, torch.device, Any], EvalFn]
StepHook = Callable[[int, dict, GANStep], None]  # (step, losses, gan) after each step

# What `resume` may change: how the run executes, never what it computes on the same data.
RESUME_OVERRIDABLE = ("run.max_steps", "run.max_minutes", "run.device", "run.checkpoint_every",
                      "run.sample_every", "run.log_every", "run.eval_every_epochs",
                      "run.eval_samples", "run.keep_checkpoints", "run.num_sample_captions",
                      "run.precision", "run.channels_last", "optim.epochs", "data.num_workers",
                      "data.root")


class DivergenceError(GtganError):
    """A loss became NaN or infinite; the run stopped without writing a checkpoint."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    status: str  # finished | max_steps | max_minutes | signal
    checkpoint: Path | None
    elapsed_s: float
    warmup_end_step: int | None = None  # when stage 2 began training (None: never; 0: no warm-up)

    @property
    def message(self) -> str:
        why = {"finished": "finished all epochs", "max_steps": "reached run.max_steps",
               "max_minutes": "reached run.max_minutes",
               "signal": "stopped by a signal"}.get(self.status, self.status)
        where = f"; checkpoint {self.checkpoint}" if self.checkpoint else ""
        more = (f"; continue with `gtgan train --resume {self.run_dir}`"
                if self.status in ("signal", "max_minutes", "max_steps") else "")
        return f"{why} at step {self.step} (epoch {self.epoch}) after {self.elapsed_s:.0f} s{where}{more}"


def train(cfg: RunConfig, run_dir: str | Path, *, eval_fn: EvalFn | None = None,
          command: list[str] | None = None, progress: bool = True,
          on_step: StepHook | None = None, init_from: str | Path | None = None,
          make_eval_fn: EvalFactory | None = None) -> TrainResult:
    """Start a new run of `cfg` in `run_dir`, which must be missing or empty. `init_from`: a
    model folder, run or checkpoint whose weights the run starts from (training/finetune.py)."""
    if init_from is not None:
        path_kind(Path(init_from))  # a wrong path fails before the run directory is made
    run = _Run(cfg, Path(run_dir), False, eval_fn, command, progress, on_step)
    run.init_from, run.make_eval_fn = init_from, make_eval_fn
    return run.run()


def resume(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
           eval_fn: EvalFn | None = None, command: list[str] | None = None,
           progress: bool = True, on_step: StepHook | None = None,
           make_eval_fn: EvalFactory | None = None) -> TrainResult:
    """Continue the run in `run_dir` from its latest checkpoint (or from the start if it died
    before the first one). `overrides` may change only RESUME_OVERRIDABLE keys."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    cfg = load_run_config(run_dir / CONFIG)
    if overrides:
        bad = [o for o in overrides if o.split("=", 1)[0].strip() not in RESUME_OVERRIDABLE]
        if bad:
            raise ConfigError(f"--set {', '.join(bad)}: cannot change on --resume (it would change "
                              f"what the run computes); allowed: {', '.join(RESUME_OVERRIDABLE)}")
        cfg = apply_overrides(cfg, list(overrides))
    run = _Run(cfg, run_dir, True, eval_fn, command, progress, on_step, list(overrides))
    run.make_eval_fn = make_eval_fn
    return run.run()


class _Run:
    def __init__(self, cfg: RunConfig, run_dir: Path, resuming: bool, eval_fn, command, progress,
                 on_step, overrides: list[str] | None = None):
        cfg.validate()
        self.cfg, self.run_dir, self.resuming = cfg, run_dir, resuming
        self.eval_fn, self.command, self.progress, self.on_step = eval_fn, command, progress, on_step
        self.overrides = overrides or []
        self.signal_received: int | None = None
        self.init_from: str | Path | None = None
        self.make_eval_fn: EvalFactory | None = None

    # ------------------------------------------------------------------ entry
    def run(self) -> TrainResult:
        self.t0 = time.monotonic()
        cfg = self.cfg
        world = D.env_world_size()
        local_rank = None
        if world > 1:
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = resolve_device(cfg.run.device, local_rank)
        if world > 1 and device.type == "cuda" and device.index != local_rank:
            warnings.warn(f"run.device={cfg.run.device!r} under torchrun: using cuda:{local_rank} "
                          "(one GPU per process)", stacklevel=2)
            device = torch.device("cuda", local_rank)
        self.device = device
        self.info = D.setup_distributed(device.type)
        determinism = determinism_state()
        try:
            error = None
            if self.info.is_main:
                try:
                    self._prepare_dir()
                except GtganError as exc:
                    error = f"{type(exc).__name__}:{exc}"
            error = D.broadcast_object(error, self.info)
            if error:
                raise _rebuild_error(error)
            return self._train()
        finally:
            lock = getattr(self, "lock", None)
            if lock is not None:
                lock.__exit__()
            restore_determinism(determinism)
            D.teardown_distributed(self.info)

    def _prepare_dir(self) -> None:
        if not self.resuming:  # resume() has checked the directory already
            check_new_run_dir(self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lock = RunLock(self.run_dir).__enter__()
        if not self.resuming:
            save_yaml(self.cfg, self.run_dir / CONFIG)
        elif self.overrides:
            save_yaml(self.cfg, self.run_dir / CONFIG)  # the record follows what runs now

    # ------------------------------------------------------------------ set-up
    def _build_data(self):
        from ..data import build_dataset, build_encoder, check_encoder_compatible

        cfg = self.cfg
        encoder = build_encoder(cfg.data.encoder, data_root=cfg.data.root or None)
        train_set = build_dataset(cfg.data, "train", cfg.model.image_sizes, train=True,
                                  seed=cfg.run.seed, encoder=encoder)
        identity = dict(train_set.encoder_identity)
        if int(identity.get("dim", -1)) != cfg.model.text_dim:
            raise ConfigError(f"model.text_dim = {cfg.model.text_dim} but the text encoder gives "
                              f"{identity.get('dim')}-d vectors; set model.text_dim and "
                              "data.encoder.dim to match")
        enc_path = self.run_dir / ENCODER
        if self.resuming and enc_path.exists():
            import json

            check_encoder_compatible(json.loads(enc_path.read_text()), identity)
        test_set = None
        if self.info.is_main and (cfg.run.sample_every > 0 or cfg.run.eval_every_epochs > 0):
            try:
                test_set = build_dataset(cfg.data, "test", cfg.model.image_sizes, train=False,
                                         seed=cfg.run.seed, encoder=encoder)
            except DataError as exc:
                warnings.warn(f"no test split for sample captions ({exc}); using training captions",
                              stacklevel=2)
                test_set = train_set
        return train_set, test_set, identity

    def _train(self) -> TrainResult:
        cfg, info, device, run_dir = self.cfg, self.info, self.device, self.run_dir
        set_deterministic(cfg.run)
        train_set, test_set, identity = self._build_data()
        if len(train_set) == 0:
            raise DataError("the training set is empty")
        sampler = EpochSampler(len(train_set), cfg.optim.batch_size, cfg.run.seed, info.rank,
                               info.world_size)
        if sampler.steps_per_epoch == 0:
            raise DataError(f"the training set has {len(train_set)} items, fewer than "
                            f"optim.batch_size ({cfg.optim.batch_size}) x {info.world_size} process(es); "
                            "use a smaller batch or more data")
        seed_everything(cfg.run.seed)  # identical initial weights on every rank
        gan = GANStep(cfg, device)
        self.gan = gan
        apply_init_weights(gan, run_dir, self.init_from, self.resuming, info.is_main)
        if gan.vgg_random and info.is_main:
            warnings.warn("loss.vgg_weights=random: the fidelity term uses an untrained VGG19; every "
                          "metrics record of this run says vgg_random=true", stacklevel=2)
        if info.is_main:  # what run.precision / run.channels_last resolved to (also in env.json)
            print(f"gtgan train: {gan.execution.line()}", file=sys.stderr, flush=True)
            if gan.execution.warning:
                warnings.warn(gan.execution.warning, stacklevel=2)

        step, epoch, position, last_ckpt = 0, 0, 0, None
        # Step at which the stage warm-up ended (0: none configured; None: still on).
        self.warmup_end = None if cfg.optim.has_stage_warmup else 0
        metrics = MetricsLog(run_dir / METRICS) if info.is_main else None
        if self.resuming:
            ckpt, loaded = _load_latest_good(run_dir / "checkpoints")
            if ckpt is not None:
                weights, tstate, lstate = loaded
                gan.load_weights(weights)
                gan.load_train_state(tstate["gan"])
                set_rng_state(tstate["rng"])
                step, epoch, position = int(lstate["step"]), int(lstate["epoch"]), int(lstate["position"])
                self.warmup_end = _resumed_warmup_end(cfg, lstate, step)
                layout = (lstate.get("world_size"), lstate.get("batch_size"))
                if layout != (info.world_size, cfg.optim.batch_size):
                    warnings.warn(f"{ckpt} was written by {lstate.get('world_size')} process(es) with "
                                  f"batch {lstate.get('batch_size')}; now {info.world_size} x "
                                  f"{cfg.optim.batch_size}: the data order from here differs", stacklevel=2)
                    position = min(position, sampler.steps_per_epoch)
                last_ckpt = ckpt
            elif info.is_main:
                warnings.warn(f"{run_dir}: no checkpoint yet; starting again from step 0", stacklevel=2)
            if metrics is not None:
                metrics.truncate_after(step)
        if info.is_main:
            if not self.resuming:
                write_json_atomic(run_dir / ENCODER, identity)
            append_env(run_dir, {**env_record(device, info.world_size, self.command,
                                              "resume" if self.resuming else "start", step),
                                 **gan.execution.record()})
        steps_per_epoch = sampler.steps_per_epoch
        if position >= steps_per_epoch:
            epoch, position = epoch + 1, 0
        total = cfg.optim.epochs * steps_per_epoch
        if cfg.run.max_steps > 0:
            total = min(total, cfg.run.max_steps)
        eval_fn = self._eval_fn(test_set)

        fixed = writer = pbar = None
        if info.is_main:
            if test_set is not None:
                from .samples import fixed_samples

                fixed = fixed_samples(test_set, cfg.run.num_sample_captions, cfg.model.z_dim,
                                      cfg.model.c_dim, cfg.run.seed)
            writer = _tensorboard(run_dir / "tb", step if self.resuming else None)
            if self.progress:
                from tqdm.auto import tqdm

                pbar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True,
                            desc=f"train {cfg.name}" + (" [VGG random]" if gan.vgg_random else ""),
                            mininterval=1.0, smoothing=0.05)
            log.info("training %s on %s: %d items, %d steps/epoch, batch %d x %d process(es)",
                     cfg.name, device, len(train_set), steps_per_epoch, cfg.optim.batch_size,
                     info.world_size)

        old_handlers = self._install_signals()
        status = None
        window: dict[str, float] = defaultdict(float)
        window_n, window_t = 0, time.monotonic()
        limit_s = cfg.run.max_minutes * 60 if cfg.run.max_minutes > 0 else math.inf
        try:
            while status is None:
                if step >= total:
                    status = "max_steps" if step < cfg.optim.epochs * steps_per_epoch else "finished"
                    break
                train_set.set_epoch(epoch)
                loader = _loader(train_set, sampler.batches(epoch, position), cfg.data.num_workers,
                                 device, seed=cfg.run.seed * 1_000_003 + epoch * 1_009 + info.rank)
                for batch in loader:
                    losses = gan(batch, num_stages=1 if self.warmup_end is None else None)
                    step = gan.step
                    position += 1
                    if self.on_step is not None:
                        self.on_step(step, losses, gan)
                    bad = nonfinite(losses)
                    elapsed = time.monotonic() - self.t0
                    time_up = elapsed >= limit_s
                    warm_over = self.warmup_end is None and _warmup_over(cfg, step, elapsed)
                    diverged, stop, time_up, warm_over = D.any_flags(
                        [bool(bad), self.signal_received is not None, time_up, warm_over], info, device)
                    if warm_over:  # every rank switches at the same step
                        self.warmup_end = step
                        if metrics is not None:
                            metrics.write({"kind": "event", "event": "stage_warmup_end", "step": step,
                                           "elapsed_s": round(elapsed, 3)})
                    if diverged:
                        raise DivergenceError(self._divergence_message(step, losses, bad, last_ckpt))
                    for k, v in losses.items():
                        window[k] += v
                    window_n += 1
                    if pbar is not None:
                        pbar.update(1)
                    if info.is_main and (step % cfg.run.log_every == 0 or step == 1):
                        rec = self._log_record(step, epoch, position, steps_per_epoch, window, window_n,
                                               time.monotonic() - window_t)
                        metrics.write(rec)
                        _tb_scalars(writer, "train", rec, step)
                        if pbar is not None:
                            pbar.set_postfix(self._progress_fields(rec, step, limit_s))
                        window, window_n, window_t = defaultdict(float), 0, time.monotonic()
                    if position == steps_per_epoch:
                        epoch, position = epoch + 1, 0
                        self._maybe_eval(eval_fn, epoch, step, metrics, writer)
                    if info.is_main and cfg.run.sample_every > 0 and step % cfg.run.sample_every == 0:
                        self._samples(fixed, step, writer)
                    if cfg.run.checkpoint_every > 0 and step % cfg.run.checkpoint_every == 0:
                        last_ckpt = self._checkpoint(step, epoch, position, identity, metrics)
                    if stop:
                        status = "signal"
                    elif time_up:
                        status = "max_minutes"
                    elif step >= total:
                        status = "max_steps" if step < cfg.optim.epochs * steps_per_epoch else "finished"
                    if status is not None:
                        break
                del loader
            if last_ckpt is None or not last_ckpt.name.endswith(f"{step:08d}"):
                last_ckpt = self._checkpoint(step, epoch, position, identity, metrics)
            if info.is_main:
                if cfg.run.sample_every > 0 and step % cfg.run.sample_every != 0:
                    self._samples(fixed, step, writer)
                metrics.write({"kind": "event", "event": status, "step": step, "epoch": epoch,
                               "elapsed_s": round(time.monotonic() - self.t0, 3)})
        finally:
            self._restore_signals(old_handlers)
            if pbar is not None:
                pbar.close()
            if writer is not None:
                writer.close()
            if metrics is not None:
                metrics.close()
        if info.is_main:
            self._plots()
        return TrainResult(run_dir, step, epoch, status, last_ckpt, time.monotonic() - self.t0,
                           self.warmup_end)

    # ------------------------------------------------------------------ pieces
    def _eval_fn(self, test_set) -> EvalFn | None:
        """The in-training evaluation hook (rank 0 only): the caller's `eval_fn`, else one
        built by the caller's `make_eval_fn(cfg, device, test_set)`."""
        fn = None
        if self.cfg.run.eval_every_epochs > 0 and self.info.is_main:
            fn = self.eval_fn
            if fn is None and self.make_eval_fn is not None:
                fn = self.make_eval_fn(self.cfg, self.device, test_set)
            elif fn is None:
                warnings.warn("run.eval_every_epochs is set but no evaluation was given (eval_fn or "
                              "make_eval_fn); in-training evaluation is skipped", stacklevel=2)
        self.has_eval = bool(D.broadcast_object(fn is not None, self.info))
        return fn

    def _maybe_eval(self, eval_fn, epoch, step, metrics, writer) -> None:
        every = self.cfg.run.eval_every_epochs
        if not self.has_eval or every <= 0 or epoch % every != 0:
            return
        if self.info.is_main:
            t = time.monotonic()
            result = eval_fn(self.gan.ema.module, epoch) or {}
            rec = {"kind": "eval", "epoch": epoch, "step": step,
                   "eval_s": round(time.monotonic() - t, 3), **result}
            if getattr(eval_fn, "notes", None):  # e.g. "random Inception weights: NOT comparable"
                rec["notes"] = list(eval_fn.notes)
            metrics.write(rec)
            _tb_scalars(writer, "eval", {k: v for k, v in result.items()}, step)
        D.barrier(self.info)

    def _log_record(self, step, epoch, position, steps_per_epoch, window, n, dt) -> dict:
        rec: dict[str, Any] = {"kind": "train", "step": step, "epoch": epoch,
                               "epoch_float": round(epoch + position / steps_per_epoch, 5)}
        rec.update({k: v / n for k, v in window.items()})
        rec["steps_per_s"] = round(n / dt, 4) if dt > 0 else None
        rec["elapsed_s"] = round(time.monotonic() - self.t0, 3)
        rec["vgg_random"] = self.gan.vgg_random
        rec["ema_decay"] = round(self.gan.ema.current_decay(), 6)
        return rec

    def _samples(self, fixed, step: int, writer) -> None:
        from ..storage.checkpoint import checkpoint_name
        from .samples import write_samples

        def fn(z, text, eps):
            return self.gan.sample(z, text, eps, ema=True)

        _, grid = write_samples(fn, fixed, self.run_dir / "samples", checkpoint_name(step))
        if writer is not None:
            import numpy as np

            writer.add_image("samples/ema", np.asarray(grid), step, dataformats="HWC")

    def _checkpoint(self, step, epoch, position, identity, metrics) -> Path | None:
        """All ranks: replicas must agree bit for bit; rank 0 writes checkpoint and model/."""
        gan, info = self.gan, self.info
        digest = None
        if info.enabled:
            D.sync_buffers(info, gan.G, gan.ema.module, *gan.Ds)
            digest = D.check_replicas(info, gan.G, gan.ema.module, *gan.Ds)
        path = None
        if info.is_main:
            from ..storage.model_folder import save_model

            loop_state = {"epoch": epoch, "position": position, "world_size": info.world_size,
                          "batch_size": self.cfg.optim.batch_size, "seed": self.cfg.run.seed,
                          "elapsed_s": round(time.monotonic() - self.t0, 3),
                          "replica_digest": digest, "vgg_random": gan.vgg_random,
                          "warmup_end_step": self.warmup_end,
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            train_state = {"gan": gan.train_state(), "rng": rng_state()}
            metrics.sync()
            path = save_checkpoint(self.run_dir / "checkpoints", step, gan.weights(), train_state,
                                   loop_state, keep=self.cfg.run.keep_checkpoints)
            save_model(self.run_dir / "model", self.cfg.model, gan.ema.module.state_dict(), identity,
                       {"source": "gtgan train", "run": self.cfg.name, "step": step, "epoch": epoch,
                        "weights": "ema", "ema_decay": self.cfg.optim.ema_decay,
                        "vgg_random": gan.vgg_random})
            self._plots()
        D.barrier(info)
        path = D.broadcast_object(str(path) if path else None, info)
        return Path(path) if path else None

    def _plots(self) -> None:
        from .plots import write_plots

        try:
            write_plots(self.run_dir / METRICS, self.run_dir / "plots")
        except Exception as exc:  # a plot must never cost a run
            warnings.warn(f"could not write plots: {exc}", stacklevel=2)

    def _divergence_message(self, step, losses, bad, last_ckpt) -> str:
        if bad:
            what = ", ".join(f"{k}={losses[k]}" for k in bad)
        else:
            what = "a loss on another process"
        keep = (f"the last good checkpoint is {last_ckpt}" if last_ckpt else
                "no checkpoint had been written yet")
        return (f"training diverged at step {step}: {what} is not finite. Nothing was saved after "
                f"it; {keep}. Lower the learning rates, use run.precision=fp32, or resume from "
                "that checkpoint with other settings")

    # ------------------------------------------------------------------ signals
    def _progress_fields(self, rec: dict, step: int, limit_s: float) -> dict[str, str]:
        """Losses, which stages train (during a stage warm-up), and the time budget left: the
        bar's step total and ETA mean little when run.max_minutes ends the run first."""
        fields = {"D": f"{rec['d_loss']:.3f}", "G": f"{rec['g_loss']:.3f}"}
        sizes = self.cfg.model.image_sizes
        if self.cfg.optim.has_stage_warmup and len(sizes) > 1:
            fields["px"] = str(sizes[0]) if self.warmup_end is None else "+".join(map(str, sizes))
        if math.isfinite(limit_s):
            left = max(0.0, limit_s - (time.monotonic() - self.t0))
            fields["time left"] = f"{int(left // 60)}:{int(left % 60):02d}"
        return fields

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        old = {}

        def handler(signum, frame):
            if self.signal_received is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
            self.signal_received = signum
            if self.info.is_main:
                log.warning("received %s: finishing this step, then writing a checkpoint",
                            signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, handler)
        return old

    @staticmethod
    def _restore_signals(old) -> None:
        if old:
            for sig, h in old.items():
                signal.signal(sig, h)


def _warmup_over(cfg: RunConfig, step: int, elapsed_s: float) -> bool:
    """Has the stage-1 warm-up reached its step count or its share of run.max_minutes?"""
    o = cfg.optim
    by_steps = o.stage_warmup_steps > 0 and step >= o.stage_warmup_steps
    by_time = o.stage_warmup_fraction > 0 and elapsed_s >= o.stage_warmup_fraction * cfg.run.max_minutes * 60
    return by_steps or by_time


def _resumed_warmup_end(cfg: RunConfig, loop_state: dict, step: int) -> int | None:
    """The warm-up's end from a checkpoint; older checkpoints did not record it (steps only)."""
    if not cfg.optim.has_stage_warmup:
        return 0
    if loop_state.get("warmup_end_step") is not None:
        return int(loop_state["warmup_end_step"])
    return step if _warmup_over(cfg, step, 0.0) else None


def _load_latest_good(root: Path):
    """The newest checkpoint that loads and matches its checksums, warning about any newer
    damaged one (a kill never damages one; a failing disk or a manual edit can)."""
    from ..storage.checkpoint import list_checkpoints

    latest = latest_checkpoint(root)
    if latest is None:
        return None, None
    candidates = [latest] + [p for p in reversed(list_checkpoints(root)) if p != latest]
    errors = []
    for ckpt in candidates:
        try:
            loaded = load_checkpoint(ckpt)
        except CheckpointError as exc:
            errors.append(str(exc))
            warnings.warn(f"cannot resume from {ckpt}: {exc}; trying an older checkpoint", stacklevel=3)
            continue
        return ckpt, loaded
    raise CheckpointError(f"{root}: no usable checkpoint: " + "; ".join(errors))


def _loader(dataset, batches: list[list[int]], num_workers: int, device: torch.device, seed: int):
    """One epoch's loader over precomputed batches; its own generator seeds the workers, so
    the global torch RNG is never drawn from."""
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers,
                      pin_memory=device.type == "cuda",
                      prefetch_factor=4 if num_workers > 0 else None,
                      generator=torch.Generator().manual_seed(seed % 2**63))


def _tensorboard(path: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency; degrade rather than die
        warnings.warn("tensorboard is not installed: no TensorBoard events", stacklevel=2)
        return None
    return SummaryWriter(log_dir=str(path), purge_step=purge_step)


def _tb_scalars(writer, prefix: str, rec: dict, step: int) -> None:
    if writer is None:
        return
    for k, v in rec.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch", "kind"):
            writer.add_scalar(f"{prefix}/{k}", v, step)


def _rebuild_error(text: str) -> GtganError:
    """Re-raise rank 0's set-up error on every rank (its class when we know it)."""
    from .rundir import RunDirError

    name, _, msg = text.partition(":")
    cls = {"RunDirError": RunDirError, "ConfigError": ConfigError}.get(name, GtganError)
    return cls(msg)
