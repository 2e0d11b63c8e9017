"""What model the page serves, found rather than written down: its preset, data and steps, the
evaluation reports made of exactly these weights (matched by the generator's sha256), the
config switches in which it differs from the `paper` preset, and example captions from its
own data set with the held-out ones marked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RunConfig, to_dict
from ..data import build_dataset
from ..errors import GtganError
from ..fileio import FileFormatError, read_json, sha256_file
from ..metrics.comparability import training_labels
from ..presets import get_preset

EXAMPLES_PER_SPLIT = 4
MAX_REPORT_BYTES = 5 << 20  # eval reports are ~20 kB; skip anything large that is not one
FALLBACK_EXAMPLES = ["a small red bird with black wings",
                     "this bird has a blue crown, a white belly and a short yellow beak"]
# Fields that say where or how fast a run went, not what it trained: never deviations.
_NOT_DEVIATIONS = ("data.root", "data.num_workers", "data.skip_missing", "data.cache_dir")


@dataclass
class Example:
    caption: str
    held_out: bool  # from the test split: a caption (and for synthetic birds a colour pair) not trained on

    @property
    def label(self) -> str:
        return ("held out: " if self.held_out else "training set: ") + self.caption


@dataclass
class ModelCard:
    title: str
    facts: list[tuple[str, str]]
    evaluation: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines += [f"- **{k}**: {v}" for k, v in self.facts]
        lines += ["", "**Evaluation**" + ("" if self.evaluation else ": no report of these weights "
                                          "found beside the model (gtgan eval RUN --out RUN/eval.json)")]
        lines += [f"- {e}" for e in self.evaluation]
        lines += ["", f"**Deviations from the paper** ({len(self.deviations)} config switches "
                      "differ from the `paper` preset)" + (":" if self.deviations else "")]
        lines += [f"- `{d}`" for d in self.deviations]
        return "\n".join(lines) + "\n"


def model_card(pipe, source: str | Path, execution_line: str = "") -> ModelCard:
    cfg: RunConfig | None = pipe.run_config
    meta = pipe.metadata
    preset = cfg.name if cfg is not None else meta.get("run", "unknown (no run config)")
    steps = meta.get("step")
    facts = [("preset", f"`{preset}`"),
             ("data", describe_data(cfg) if cfg is not None else "unknown (a model folder without its run)"),
             ("training steps", f"{steps:,}" if isinstance(steps, int) else "not recorded"),
             ("image sizes", " and ".join(f"{s} px" for s in pipe.image_sizes)),
             ("text encoder", f"{pipe.encoder.identity.get('kind')} ({pipe.encoder.identity.get('name', '')})"),
             ("weights", f"`{pipe.weights_file or source}`")]
    if execution_line:
        facts.append(("generation", f"{pipe.device}, {execution_line}"))
    labels = training_labels(cfg, pipe.encoder)  # the weights themselves, before any report
    facts.append(("comparable with the paper", "no: " + "; ".join(labels) if labels else
                  "nothing random in its training (numbers still need a report: see Evaluation)"))
    where = "/".join(Path(str(source)).parts[-2:]) or str(source)  # e.g. gtgan-demo/run
    return ModelCard(f"{preset} model from {where}", facts,
                     evaluation_lines(pipe, source), deviations(cfg, pipe.model_config),
                     examples(pipe))


def describe_data(cfg: RunConfig) -> str:
    d = cfg.data
    if d.kind == "synthetic":
        return f"built-in synthetic birds ({d.synthetic_count:,} pictures, seed {d.synthetic_seed})"
    return f"{d.kind} at `{d.root}`"


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}", v))
        return out
    return {prefix: value}


def deviations(cfg: RunConfig | None, model_cfg) -> list[str]:
    """`section.field = value (paper: value)` for every switch that differs from the paper
    preset: the model always, the loss, optimiser and data kind / text encoder when the run's
    config is known."""
    paper = get_preset("paper")
    sections = {"model": (to_dict(model_cfg), to_dict(paper.model))}
    if cfg is not None:
        sections.update(loss=(to_dict(cfg.loss), to_dict(paper.loss)),
                        optim=(to_dict(cfg.optim), to_dict(paper.optim)),
                        data=(to_dict(cfg.data), to_dict(paper.data)))
    out = []
    for name, (mine, theirs) in sections.items():
        a, b = _flat(name, mine), _flat(name, theirs)
        for key in a:
            if key.startswith(_NOT_DEVIATIONS) or key.startswith("data.") and not (
                    key == "data.kind" or key.startswith("data.encoder.")):
                continue
            if a[key] != b.get(key):
                out.append(f"{key} = {a[key]!r} (paper: {b.get(key)!r})")
    return out


def _candidate_reports(source: Path, weights: Path | None) -> list[Path]:
    dirs = []
    for start in (source, weights):
        if start is None:
            continue
        start = Path(start).resolve()
        here = start if start.is_dir() else start.parent
        dirs += [here, here.parent, here.parent.parent]  # RUN/model, RUN, the demo folder
    seen, files = set(), []
    for d in dirs:
        if d in seen or not d.is_dir():
            continue
        seen.add(d)
        files += sorted(p for p in d.glob("*.json") if p.stat().st_size <= MAX_REPORT_BYTES)
    return files


def _headline(result: Any) -> float | None:
    """A metric's main number, whatever the metric: accuracy, value, mean or ratio."""
    if not isinstance(result, dict):
        return None
    for key in ("accuracy", "value", "mean", "ratio"):
        if isinstance(result.get(key), (int, float)):
            return float(result[key])
    return _headline(result.get("all"))


def _beside(metric: str, value: dict) -> str:
    """Real pictures and chance beside a retrieval or classification number."""
    if "chance" not in value and isinstance(value.get("all"), dict):
        value = value["all"]  # own_words: its headline group
    real = value.get("real_accuracy") if metric == "attr" else (value.get("real") or {}).get("mean")
    chance = value.get("chance")
    if not isinstance(chance, float):
        return ""
    return (f" (" + (f"real pictures {real:.3f}, " if isinstance(real, float) else "")
            + f"chance {chance:.3f})")


def evaluation_lines(pipe, source: str | Path) -> list[str]:
    """One line per scale of every `gtgan eval` report beside the model whose generator
    sha256 is the served weights' own."""
    weights = pipe.weights_file
    if weights is None or not Path(weights).exists():
        return []
    digest = sha256_file(weights)
    lines = []
    for path in _candidate_reports(Path(str(source)), Path(weights)):
        try:
            report = read_json(path, MAX_REPORT_BYTES)
        except (OSError, FileFormatError):
            continue
        if not (isinstance(report, dict) and report.get("format") == "gtgan-eval"
                and report.get("model", {}).get("generator_sha256") == digest):
            continue
        note = " (NOT COMPARABLE: " + "; ".join(report["labels"]) + ")" if report.get("labels") else ""
        for size, res in sorted(report.get("results", {}).items(), key=lambda kv: int(kv[0])):
            cells = []
            for metric, value in res.items():
                number = _headline(value)
                if number is not None:
                    extra = ""
                    extra = _beside(metric, value)
                    cells.append(f"{metric} {number:.3f}{extra}")
            lines.append(f"{size} px: " + ", ".join(cells) + f"; {report.get('samples')} samples "
                         f"of split {report.get('split')}, `{path.name}`{note}")
        lines += [f"Warning: {w}" for w in report.get("warnings", [])]
    return lines


def examples(pipe) -> list[Example]:
    """A few captions of the training split and of the held-out test split. Without the
    data (a model folder alone, a missing CUB root) two plain captions stand in."""
    cfg = pipe.run_config
    if cfg is None:
        return [Example(c, False) for c in FALLBACK_EXAMPLES]
    out = []
    for split, held_out in (("test", True), ("train", False)):
        try:
            data = build_dataset(cfg.data, split, pipe.image_sizes, train=False, seed=cfg.run.seed,
                                 encoder=pipe.encoder)
        except (GtganError, OSError):
            continue
        n = len(data)
        step = max(1, n // EXAMPLES_PER_SPLIT)
        out += [Example(data.captions(i)[0], held_out) for i in range(0, n, step)][:EXAMPLES_PER_SPLIT]
    return out or [Example(c, False) for c in FALLBACK_EXAMPLES]
