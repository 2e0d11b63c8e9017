"""`gtgan demo`'s report: the figures (sample grids from held-out captions, the real pictures
they describe, an interpolation strip, the loss plots) and report.html around the metrics.
`gtgan.demo` plans, trains and evaluates, then calls these.
"""
from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from .config import RunConfig
from .data import build_dataset
from .fileio import atomic_save_image, atomic_write_text
from .images import captioned_grid, image_strip, tensor_to_pil
from .pipeline import TextToImage

SAMPLES_PER_CAPTION = 6
EVAL_METRICS = ("attr", "own_words", "ssim", "diversity", "pose", "lite0_fd")  # what the report shows; its Reproduce line names them
# Without --rp-encoder the report says how to get R-precision (training the DAMSM, ~4.5 min on
# 2 CPU cores, does not fit in the demo's budget).
RP_HINT = ("R-precision was not measured: it needs a DAMSM for the synthetic birds. Train one (about "
           "5 minutes on 2 CPU cores): <code>gtgan encoder train synthetic --out damsm-birds</code>, "
           "then <code>gtgan demo --rp-encoder damsm-birds</code>.")



def stages_line(result) -> str:
    """Which steps trained which stages (the stage warm-up), in words."""
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


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _headline(report: dict) -> list[str]:
    """One line per scale: attribute accuracy against real pictures and chance, then each
    other measure the report holds."""
    headline = []
    for size, res in sorted(report.get("results", {}).items(), key=lambda kv: int(kv[0])):
        a = res.get("attr", {})
        div = res.get("diversity", {}).get("ratio")
        pose = res.get("pose", {}).get("ratio")
        own = (res.get("own_words") or {}).get("all", {}).get("accuracy")
        shape = res.get("lite0_fd") or {}
        blob = shape.get("position")
        headline.append(f"{size} px: <b>{_pct(a.get('accuracy'))}</b> (real pictures "
                        f"{_pct(a.get('real_accuracy'))}, chance {_pct(a.get('chance'))})"
                        + ("" if own is None else f", captions in other words {_pct(own)}")
                        + ("" if div is None else f", diversity {div:.2f}")
                        + ("" if pose is None else f", pose variety {pose:.2f} (1 = as real)")
                        + ("" if blob is None else f", shape FD {shape['value']:.1f} (real "
                           f"{shape['real']:.1f}, blurred {shape['blurred_real']:.1f}, blobs "
                           f"{shape['blobs']:.1f}: position {blob:.2f}, 0 real, 1 blurred)")
                        + rp_headline(res.get("r_precision")))
    return headline


def _rp_paragraph(report: dict) -> str:
    esc = html.escape
    damsm = report.get("weights", {}).get("r_precision_damsm")
    return RP_HINT if damsm is None else (
        f"R-precision: does the DAMSM {esc(str(damsm.get('hash')))} ({esc(str(damsm.get('description')))}; "
        f"image encoder {esc(str(damsm.get('image_weights_description')))}; {esc(str(damsm.get('path')))}) "
        "rank each picture's own caption first among 100 (99 of other classes)? The real pictures' "
        "R-precision beside it is the ceiling (docs/evaluation.md).")


def _budget_table(budget: dict, seconds: float, result) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{v['planned_s'] / 60:.1f}</td>"
                   f"<td>{v['spent_s'] / 60:.1f}</td></tr>" for k, v in budget.items())
    return (f"<h2>How the {seconds / 60:.1f} minutes were spent</h2><table border=1 "
            f"cellpadding=4><tr><th>part</th><th>planned (min)</th><th>spent (min)</th>"
            f"</tr>{rows}</table><p>{esc(stages_line(result))}. The plan comes from "
            "this machine's measured generation speed (docs/demo.md).</p>")


def write_html(out: Path, cfg: RunConfig, result, report: dict, metrics_md: str,
               figures: dict[str, str], seconds: float, budget: dict | None = None,
               metrics: tuple[str, ...] = EVAL_METRICS, rp_encoder: str | None = None) -> Path:
    """report.html (and budget.json when `budget` is given) in `out`."""
    esc = html.escape
    headline = _headline(report)
    rp_html = _rp_paragraph(report)
    budget_html = ""
    if budget:
        budget_html = _budget_table(budget, seconds, result)
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
