"""The training loop: a RunConfig and a run directory in, checkpoints, logs and a model out.

`train(cfg, run_dir)` starts a run in an empty (or missing) directory; `resume(run_dir)`
continues the latest checkpoint exactly (same step, data order and noise). Nothing here knows
about argparse. Under torchrun the same calls train with DistributedDataParallel; rank 0 writes.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import ConfigError, RunConfig, save_yaml
from ..data import (EpochSampler, build_dataset, check_encoder_compatible, dataset_sentences,
                    make_loader, settle_conditioning)
from ..device import (determinism_state, restore_determinism, rng_state, seed_everything,
                      set_deterministic, set_rng_state)
from ..errors import DataError, GtganError
from ..storage.checkpoint import latest_good_checkpoint, save_checkpoint
from ..storage.loading import path_kind
from ..storage.model_folder import save_model
from . import distributed
from .finetune import apply_init_weights
from .guard import (RESUME_OVERRIDABLE, StartRecord, check_resume_config, config_record,
                    resume_config, sweep_run)
from .outputs import RunOutputs, divergence_message, plots, progress_fields, tb_scalars
from .preflight import check_inputs, check_output
from .progress import StopRule, TrainResult
from .rundir import (CONFIG, ENCODER, METRICS, MetricsLog, RunDirError, RunLock, append_env,
                     check_run_dir, env_record, read_recorded_json, write_json_atomic)
from .step import Trainer, nonfinite
from .stop_signals import StopSignals
from .warmup import resumed_warmup_end, warmup_over

log = logging.getLogger("gtgan.training")

EvalFn = Callable[[torch.nn.Module, int], dict]
# Builds the hook once the run's device and test split exist: (cfg, device, test_set) -> EvalFn,
# e.g. gtgan.metrics.make_training_eval, passed in by the caller (training imports no metrics).
EvalFactory = Callable[[RunConfig, torch.device, Any], EvalFn]
StepHook = Callable[[int, dict, Trainer], None]  # (step, losses, gan) after each step


class DivergenceError(GtganError):
    """A loss became NaN or infinite; the run stopped without writing a checkpoint."""


def train(cfg: RunConfig, run_dir: str | Path, *, eval_fn: EvalFn | None = None,
          command: list[str] | None = None, progress: bool = True,
          on_step: StepHook | None = None, init_from: str | Path | None = None,
          make_eval_fn: EvalFactory | None = None, stated: set[str] | None = None) -> TrainResult:
    """Start a new run of `cfg` in `run_dir`, which must be missing or empty. `init_from`: a
    model folder, run or checkpoint whose weights the run starts from (training/finetune.py).
    What follows from the text encoder (widths, model.text_scale=0) is decided once the
    training captions are encoded (gtgan.data.settle_conditioning; `stated`: the dotted keys
    the user gave, whose widths must fit; None: every width that is not 0) and saved in the
    run's config.yaml. What can fail is checked before the run directory is made
    (preflight.py); a start that fails anyway removes what it made."""
    if init_from is not None:
        path_kind(Path(init_from))  # a wrong path fails before the run directory is made
    cfg = copy.deepcopy(cfg)
    cfg.validate()
    check_output(cfg, Path(run_dir))
    encoder = check_inputs(cfg, stated)
    run = _Run(cfg, Path(run_dir), False, eval_fn, command, progress, on_step)
    run.encoder, run.stated = encoder, stated
    run.init_from, run.make_eval_fn = init_from, make_eval_fn
    return run.run()


def resume(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
           eval_fn: EvalFn | None = None, command: list[str] | None = None,
           progress: bool = True, on_step: StepHook | None = None,
           make_eval_fn: EvalFactory | None = None) -> TrainResult:
    """Continue the run in `run_dir` from its latest checkpoint (or from the start if it died
    before the first one). `overrides` may change only RESUME_OVERRIDABLE keys."""
    run_dir = Path(run_dir)
    # Locked, then checked and read: no other writer can change the run between what this
    # resume reads and what it writes. Only the main process writes (and locks) under torchrun.
    lock = None
    if os.environ.get("RANK", "0") == "0" and (run_dir / CONFIG).is_file():
        lock = RunLock(run_dir).__enter__()
    try:
        check_run_dir(run_dir)
        cfg, notes = resume_config(run_dir, list(overrides))
        encoder = check_inputs(cfg)
    except BaseException:
        if lock is not None:
            lock.__exit__()
        raise
    run = _Run(cfg, run_dir, True, eval_fn, command, progress, on_step, list(overrides))
    run.encoder, run.notes, run.lock = encoder, notes, lock
    run.make_eval_fn = make_eval_fn
    return run.run()


@dataclass
class _Position:
    """Where the run is: the step, the epoch and the batch within it, the last checkpoint."""
    step: int = 0
    epoch: int = 0
    position: int = 0
    last_ckpt: Path | None = None


class _Run:
    def __init__(self, cfg: RunConfig, run_dir: Path, resuming: bool, eval_fn, command, progress,
                 on_step, overrides: list[str] | None = None):
        cfg.validate()
        self.cfg, self.run_dir, self.resuming = cfg, run_dir, resuming
        self.eval_fn, self.command, self.progress, self.on_step = eval_fn, command, progress, on_step
        self.overrides = overrides or []
        self.init_from: str | Path | None = None
        self.make_eval_fn: EvalFactory | None = None
        self.encoder, self.notes, self.lock = None, [], None
        self.stated: set[str] | None = None  # train()'s: which widths the user gave
        self.start = StartRecord(run_dir)
        self.stepping = False  # the step loop has begun: a failure is no longer a failed start

    # ------------------------------------------------------------------ entry
    def run(self) -> TrainResult:
        self.t0 = time.monotonic()
        self.device = device = distributed.process_device(self.cfg.run.device)
        self.info = distributed.setup_distributed(device.type)
        self.signals = StopSignals(self.info.is_main)
        determinism = determinism_state()
        try:
            error = None
            if self.info.is_main:
                try:
                    self._prepare_dir()
                except GtganError as exc:
                    error = f"{type(exc).__name__}:{exc}"
            error = distributed.broadcast_object(error, self.info)
            if error:
                raise _rebuild_error(error)
            return self._train()
        except BaseException:
            if self.info.is_main and not self.resuming and not self.stepping and self.start.made:
                self.start.undo()  # this start made the folder's contents: nothing may block a retry
            raise
        finally:
            if self.lock is not None:
                self.lock.__exit__()
            restore_determinism(determinism)
            distributed.teardown_distributed(self.info)

    def _prepare_dir(self) -> None:
        if self.resuming:
            if self.lock is None:  # resume() took it before reading the run
                self.lock = RunLock(self.run_dir).__enter__()
            sweep_run(self.run_dir)  # what killed writers left (we hold the lock: no other writer)
            check_run_dir(self.run_dir)
        else:  # made, locked, then checked: train()'s look before the slow set-up was a courtesy
            self.lock = self.start.open()
        for note in self.notes:
            print(f"gtgan train: {note}", file=sys.stderr, flush=True)
        if not self.resuming:
            save_yaml(self.cfg, self.run_dir / CONFIG)
        elif self.overrides:
            save_yaml(self.cfg, self.run_dir / CONFIG)  # the record follows what runs now

    # ------------------------------------------------------------------ set-up
    def _build_data(self):
        cfg, encoder = self.cfg, self.encoder  # loaded and its widths checked by check_inputs
        train_set = build_dataset(cfg.data, "train", cfg.model.image_sizes, train=True,
                                  seed=cfg.run.seed, encoder=encoder)
        # The one point where widths and model.text_scale follow from the encoder; the config
        # saved at the start is saved again with what was decided (a resumed run's is settled).
        notes = settle_conditioning(cfg, encoder, self.stated, lambda: dataset_sentences(train_set))
        if notes and self.info.is_main:
            for note in notes:
                print(f"gtgan train: {note}", file=sys.stderr, flush=True)
            save_yaml(cfg, self.run_dir / CONFIG)
        identity = dict(train_set.encoder_identity)
        enc_path = self.run_dir / ENCODER
        if self.resuming and enc_path.exists():
            check_encoder_compatible(read_recorded_json(enc_path), identity)
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
        """Set up, resume (when asked), run the step loop, finish: the four parts below."""
        set_deterministic(self.cfg.run)
        train_set, test_set, identity = self._build_data()
        sampler = self._set_up(train_set)
        at = self._resume(sampler) if self.resuming else _Position()
        if self.info.is_main:
            if not self.resuming:
                write_json_atomic(self.run_dir / ENCODER, identity)
            append_env(self.run_dir, {**env_record(self.device, self.info.world_size, self.command,
                                                   "resume" if self.resuming else "start", at.step),
                                      **self.gan.execution.record()})
        steps_per_epoch = sampler.steps_per_epoch
        if at.position >= steps_per_epoch:
            at.epoch, at.position = at.epoch + 1, 0
        total = epoch_total = self.cfg.optim.epochs * steps_per_epoch
        if self.cfg.run.max_steps > 0:
            total = min(total, self.cfg.run.max_steps)
        minutes = self.cfg.run.max_minutes
        rule = StopRule(total, epoch_total, minutes * 60 if minutes > 0 else math.inf, self.t0)
        eval_fn = self._eval_fn(test_set)
        out = RunOutputs.open(self.cfg, self.run_dir, self.metrics, test_set, step=at.step,
                              rule=rule, resuming=self.resuming, progress=self.progress,
                              vgg_random=self.gan.vgg_random)
        out.data_left_out(train_set, at.step)
        if self.info.is_main:
            log.info("training %s on %s: %d items, %d steps/epoch, batch %d x %d process(es)",
                     self.cfg.name, self.device, len(train_set), steps_per_epoch,
                     self.cfg.optim.batch_size, self.info.world_size)
        self.stepping = True
        try:
            with self.signals:
                status = self._step_loop(train_set, sampler, at, rule, identity, eval_fn, out)
                self._finish(at, identity, status, out)
        finally:
            out.close()
        if self.info.is_main:
            plots(self.run_dir)
        return TrainResult(self.run_dir, at.step, at.epoch, status, at.last_ckpt,
                           time.monotonic() - self.t0, self.warmup_end)

    def _set_up(self, train_set) -> EpochSampler:
        """Data order, the trainer (same initial weights on every rank), fine-tuning weights,
        the metrics log; what the run resolved is said once."""
        cfg, info = self.cfg, self.info
        if len(train_set) == 0:
            raise DataError("the training set is empty")
        sampler = EpochSampler(len(train_set), cfg.optim.batch_size, cfg.run.seed, info.rank,
                               info.world_size)
        if sampler.steps_per_epoch == 0:
            raise DataError(f"the training set has {len(train_set)} items, fewer than "
                            f"optim.batch_size ({cfg.optim.batch_size}) x {info.world_size} process(es); "
                            "use a smaller batch or more data")
        seed_everything(cfg.run.seed)  # identical initial weights on every rank
        self.gan = gan = Trainer(cfg, self.device)
        apply_init_weights(gan, self.run_dir, self.init_from, self.resuming, info.is_main)
        if gan.vgg_random and info.is_main:
            warnings.warn(f"the fidelity term uses untrained {cfg.loss.fidelity_features} features "
                          "(weights=random); every metrics record of this run says vgg_random=true",
                          stacklevel=3)
        if info.is_main:  # what run.precision / run.channels_last resolved to (also in env.json)
            print(f"gtgan train: {gan.execution.line()}", file=sys.stderr, flush=True)
            if gan.execution.warning:
                warnings.warn(gan.execution.warning, stacklevel=3)
        # Step at which the stage warm-up ended (0: none configured; None: still on).
        self.warmup_end = None if cfg.optim.has_stage_warmup else 0
        self.metrics = MetricsLog(self.run_dir / METRICS) if info.is_main else None
        return sampler

    def _resume(self, sampler: EpochSampler) -> _Position:
        """Weights, optimiser and RNG state and the data position of the newest good
        checkpoint; the metrics log is cut back to it."""
        cfg, info, at = self.cfg, self.info, _Position()
        ckpt, loaded = latest_good_checkpoint(self.run_dir / "checkpoints")
        if ckpt is not None:
            weights, tstate, lstate = loaded
            self.gan.load_weights(weights)
            self.gan.load_train_state(tstate["gan"])
            set_rng_state(tstate["rng"])
            at.step, at.epoch, at.position = int(lstate["step"]), int(lstate["epoch"]), int(lstate["position"])
            self.warmup_end = resumed_warmup_end(cfg, lstate, at.step)
            check_resume_config(cfg, lstate, ckpt)  # the one loaded (an older one if damaged)
            layout = (lstate.get("world_size"), lstate.get("batch_size"))
            if layout != (info.world_size, cfg.optim.batch_size):
                warnings.warn(f"{ckpt} was written by {lstate.get('world_size')} process(es) with "
                              f"batch {lstate.get('batch_size')}; now {info.world_size} x "
                              f"{cfg.optim.batch_size}: the data order from here differs", stacklevel=3)
                at.position = min(at.position, sampler.steps_per_epoch)
            at.last_ckpt = ckpt
        elif info.is_main:
            warnings.warn(f"{self.run_dir}: no checkpoint yet; starting again from step 0", stacklevel=3)
        if self.metrics is not None:
            self.metrics.truncate_after(at.step)
        return at

    def _step_loop(self, train_set, sampler: EpochSampler, at: _Position, rule: StopRule, identity,
                   eval_fn, out: RunOutputs) -> str:
        """Epochs of steps until the stop rule says why to stop; logs, evaluation, samples and
        checkpoints at their intervals (none at the step the run ends at: `_finish` saves it).
        Returns the status."""
        cfg, info, device = self.cfg, self.info, self.device
        steps_per_epoch = sampler.steps_per_epoch
        window: dict[str, float] = defaultdict(float)
        window_n, window_t = 0, time.monotonic()
        status = rule.step_status(at.step)
        while status is None:
            train_set.set_epoch(at.epoch)
            loader = make_loader(train_set, sampler.batches(at.epoch, at.position), cfg.data.num_workers,
                                 device, seed=cfg.run.seed * 1_000_003 + at.epoch * 1_009 + info.rank)
            for batch in loader:
                # Explicit either way: the trainer's own default re-applies the step count,
                # which must not outlast a warm-up that its time share already ended.
                losses = self.gan(batch, num_stages=1 if self.warmup_end is None else len(self.gan.Ds))
                at.step = step = self.gan.step
                out.note_skipped(batch.get("skipped"), step)
                at.position += 1
                if self.on_step is not None:
                    self.on_step(step, losses, self.gan)
                bad = nonfinite(losses)
                rule.step_done()
                elapsed = time.monotonic() - self.t0
                time_up = rule.time_up()
                warm_over = self.warmup_end is None and warmup_over(cfg, step, elapsed)
                diverged, stop, time_up, warm_over = distributed.any_flags(
                    [bool(bad), self.signals.received is not None, time_up, warm_over], info, device)
                if warm_over:  # every rank switches at the same step
                    self.warmup_end = step
                    if out.metrics is not None:
                        out.metrics.write({"kind": "event", "event": "stage_warmup_end", "step": step,
                                           "elapsed_s": round(elapsed, 3)})
                if diverged:
                    raise DivergenceError(divergence_message(step, losses, bad, at.last_ckpt))
                for k, v in losses.items():
                    window[k] += v
                window_n += 1
                fields = None
                if info.is_main and (step % cfg.run.log_every == 0 or step == 1):
                    rec = self._log_record(at, steps_per_epoch, window, window_n,
                                           time.monotonic() - window_t)
                    out.metrics.write(rec)
                    tb_scalars(out.writer, "train", rec, step)
                    fields = progress_fields(cfg, rec, self.warmup_end)
                    window, window_n, window_t = defaultdict(float), 0, time.monotonic()
                if out.pbar is not None:
                    out.pbar.step(step, fields)
                if at.position == steps_per_epoch:
                    at.epoch, at.position = at.epoch + 1, 0
                    if not (stop or time_up) and self._maybe_eval(eval_fn, at, out, rule):
                        time_up = distributed.any_flags([rule.time_up()], info, device)[0]
                t_save, ending = time.monotonic(), stop or time_up
                if not ending and info.is_main and 0 < cfg.run.sample_every \
                        and step % cfg.run.sample_every == 0:
                    out.samples(self._sample_fn, self.run_dir, step)
                if not ending and 0 < cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0:
                    at.last_ckpt = self._checkpoint(at, identity)
                    rule.reserve_s = time.monotonic() - t_save  # the final save costs as much
                status = ("signal" if stop else "max_minutes" if time_up
                          else rule.step_status(step))
                if status is not None:
                    break
            del loader
        return status

    def _finish(self, at: _Position, identity, status: str, out: RunOutputs) -> None:
        """The last checkpoint and samples (unless this step has them) and the stop event."""
        if at.last_ckpt is None or not at.last_ckpt.name.endswith(f"{at.step:08d}"):
            at.last_ckpt = self._checkpoint(at, identity)
        if self.info.is_main:
            every = self.cfg.run.sample_every
            if every > 0 and at.step % every != 0:
                out.samples(self._sample_fn, self.run_dir, at.step)
            out.metrics.write({"kind": "event", "event": status, "step": at.step, "epoch": at.epoch,
                               "elapsed_s": round(time.monotonic() - self.t0, 3)})

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
        self.has_eval = bool(distributed.broadcast_object(fn is not None, self.info))
        return fn

    def _maybe_eval(self, eval_fn, at: _Position, out: RunOutputs, rule: StopRule) -> bool:
        """The in-training evaluation when due (stopped at the time cap); True if it ran."""
        every = self.cfg.run.eval_every_epochs
        if not self.has_eval or every <= 0 or at.epoch % every != 0:
            return False
        if self.info.is_main:
            out.eval_record(eval_fn, self.gan.ema.module, at.epoch, at.step,
                            deadline=rule.t0 + rule.limit_s - rule.reserve_s)  # room to save
        distributed.barrier(self.info)
        return True

    def _log_record(self, at: _Position, steps_per_epoch, window, n, dt) -> dict:
        rec: dict[str, Any] = {"kind": "train", "step": at.step, "epoch": at.epoch,
                               "epoch_float": round(at.epoch + at.position / steps_per_epoch, 5)}
        rec.update({k: v / n for k, v in window.items()})
        rec["steps_per_s"] = round(n / dt, 4) if dt > 0 else None
        rec["elapsed_s"] = round(time.monotonic() - self.t0, 3)
        rec["vgg_random"] = self.gan.vgg_random
        rec["ema_decay"] = round(self.gan.ema.current_decay(), 6)
        return rec

    def _sample_fn(self, features, z, eps):
        return self.gan.sample(features, z, eps, ema=True)

    def _checkpoint(self, at: _Position, identity) -> Path | None:
        """All ranks: replicas must agree bit for bit; rank 0 writes checkpoint and model/."""
        gan, info, step = self.gan, self.info, at.step
        digest = None
        if info.enabled:
            replicated = [gan.G, gan.ema.module, *gan.Ds] + ([gan.E] if gan.E is not None else [])
            distributed.sync_buffers(info, *replicated)
            digest = distributed.check_replicas(info, *replicated)
        path = None
        if info.is_main:
            loop_state = {"epoch": at.epoch, "position": at.position, "world_size": info.world_size,
                          "batch_size": self.cfg.optim.batch_size, "seed": self.cfg.run.seed,
                          "elapsed_s": round(time.monotonic() - self.t0, 3),
                          "replica_digest": digest, "vgg_random": gan.vgg_random,
                          "fidelity_weights": gan.fidelity_weights,
                          "warmup_end_step": self.warmup_end, **config_record(self.cfg),
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            train_state = {"gan": gan.train_state(), "rng": rng_state()}
            self.metrics.sync()
            path = save_checkpoint(self.run_dir / "checkpoints", step, gan.weights(), train_state,
                                   loop_state, keep=self.cfg.run.keep_checkpoints)
            save_model(self.run_dir / "model", self.cfg.model, gan.ema.module.state_dict(), identity,
                       {"source": "gtgan train", "run": self.cfg.name, "step": step, "epoch": at.epoch,
                        "weights": "ema", "ema_decay": self.cfg.optim.ema_decay,
                        "vgg_random": gan.vgg_random})
            plots(self.run_dir)
        distributed.barrier(info)
        path = distributed.broadcast_object(str(path) if path else None, info)
        return Path(path) if path else None


def _rebuild_error(text: str) -> GtganError:
    """Re-raise rank 0's set-up error on every rank (its class when we know it)."""
    name, _, msg = text.partition(":")
    cls = {"RunDirError": RunDirError, "ConfigError": ConfigError}.get(name, GtganError)
    return cls(msg)
