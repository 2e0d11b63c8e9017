"""Loss and evaluation curves as PNGs (the paper's figs. 4-6) from metrics.jsonl."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)  # files only, never a window; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from ..fileio import atomic_write_bytes  # noqa: E402
from .rundir import read_metrics  # noqa: E402


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


GAN_CURVES = (("d_loss", "Discriminator loss (sum over scales)"), ("g_loss", "Generator loss (total)"))


def write_plots(metrics_path: Path, plots_dir: Path,
                curves: tuple[tuple[str, str], ...] = GAN_CURVES) -> list[Path]:
    """<key>.png for each (key, title) of `curves` (default d_loss and g_loss) against epochs
    (per log interval, with per-epoch means), and eval_<metric>.png per in-training
    evaluation metric; returns the files written."""
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    random_vgg = any(r.get("vgg_random") for r in train)
    for key, title in curves:
        pts = [(r["epoch_float"], r[key]) for r in train if key in r and "epoch_float" in r]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x, y = zip(*pts)
        ax.plot(x, y, lw=0.8, alpha=0.5, label="per log interval")
        by_epoch: dict[int, list[float]] = {}
        for e, v in pts:
            by_epoch.setdefault(int(e), []).append(v)
        if len(by_epoch) > 1:
            ex = sorted(by_epoch)
            ax.plot([e + 0.5 for e in ex], [sum(by_epoch[e]) / len(by_epoch[e]) for e in ex],
                    "o-", ms=3, label="epoch mean")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(title + (" [VGG random]" if key == "g_loss" and random_vgg else ""))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        path = plots_dir / f"{key}.png"
        _save(fig, path)
        plt.close(fig)
        written.append(path)
    metric_keys = sorted({k for r in evals for k, v in r.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)
                          and k not in ("epoch", "step", "time", "elapsed_s")})
    for key in metric_keys:
        pts = [(r["epoch"], r[key]) for r in evals if key in r]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x, y = zip(*pts)
        ax.plot(x, y, "o-", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(f"{key} during training" + (" (EMA generator)" if curves is GAN_CURVES else ""))
        ax.grid(alpha=0.3)
        path = plots_dir / f"eval_{key}.png"
        _save(fig, path)
        plt.close(fig)
        written.append(path)
    return written
