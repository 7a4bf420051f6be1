"""``hyenadna export-kipoi``: a self-contained Kipoi model directory for a model of this project.

Layout of ``DIR`` (every path inside is relative, so the directory can be moved or copied)::

    model.yaml, dataloader.yaml     the model (intervals, or classifier when the source has
                                    head.json) with its IntervalDataset description
    model.py, dataloader.py         the group's thin modules (``defined_as: model.HyenaDNAModel``)
    model/                          the weights in this project's layout (config.json,
                                    model.safetensors [+ head.json, head.safetensors]);
                                    model.yaml names them with their md5
    example/                        a small genome, BED and VCF (kipoi test's inputs)
    downloaded/model_files/test.expect.h5
                                    inputs + expected predictions, checked by `kipoi test`
    loglik/                         (language models only) the same weights as the group's loglik
                                    model: kipoiseq's SeqIntervalDl, one (1,) target, test.expect
    variant-effect/                 (language models only) the same weights as a variant-effect
                                    model: model.yaml, example/, downloaded/...
    README.md                       the commands to run

``kipoi test DIR --source dir`` and ``kipoi predict DIR --source dir ...`` work from any
working directory: ``test.expect`` is a ``{url, md5}`` file that kipoi looks up under
``DIR/downloaded/model_files/`` (a relative path would be opened relative to the cwd).
The directory is built under a temporary name beside ``DIR`` and renamed when complete.
Nothing here imports kipoi: expected predictions come from :mod:`.predict` directly.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..checkpoints import load_model, save_model
from ..data import Genome, Interval, read_bed
from ..download import file_digest
from ..errors import InputError
from ..io import atomic_dir
from ..model import HyenaDNA
from ..score import default_window
from . import DATALOADER_DIR, EXAMPLE_DIR, GROUP_DIR
from ..heads import Head, has_head, load_head, save_head
from .expect import example_onehot
from .onehot import onehot_to_ids
from .predict import classifier_outputs, interval_outputs, single_target, variant_outputs
from .render import render_model_yaml
from .samples import allele_samples, allele_tokens, resize, stack_intervals

EXPECT = Path("downloaded") / "model_files" / "test.expect.h5"  # where kipoi looks for a {url, md5} test.expect
EXAMPLE_FILES = ("genome.fa", "genome.fa.fai", "variants.vcf", "regions.bed", "README.md")
GROUP_MODULES = ("model.py", "dataloader.py")  # the thin modules the yaml's defined_as names (model.HyenaDNAModel)


@dataclass
class Export:
    """What :func:`export_model` wrote."""

    path: Path
    task: str
    weights_md5: str
    models: list[Path] = field(default_factory=list)  # model directories: DIR (+ DIR/variant-effect)

    def describe(self) -> str:
        names = ", ".join(str(m) for m in self.models)
        return f"exported {self.task} model to {self.path} (weights md5 {self.weights_md5}); kipoi models: {names}"


def _source_dir(model: str | os.PathLike) -> Path | None:
    path = Path(model)
    return (path if path.is_dir() else path.parent) if path.exists() else None


def copy_example(dest: Path, l_max: int) -> list[Interval]:
    """The packaged example in ``dest``; intervals longer than ``l_max`` are shortened around their centre."""
    dest.mkdir(parents=True)
    for name in EXAMPLE_FILES:
        shutil.copy2(EXAMPLE_DIR / name, dest / name)
    intervals = [resize(iv, l_max) if iv.end - iv.start > l_max else iv for iv in read_bed(EXAMPLE_DIR / "intervals.bed")]
    with open(dest / "intervals.bed", "w") as out:
        for iv in intervals:
            out.write(f"{iv.chrom}\t{iv.start}\t{iv.end}\t{iv.name}\t0\t{iv.strand}\n")
    return intervals


def copy_group_modules(dest: Path) -> None:
    """The group's thin ``model.py`` and ``dataloader.py`` in ``dest``, beside a model.yaml rendered from the template."""
    for name in GROUP_MODULES:
        shutil.copy2(GROUP_DIR / name, dest / name)


def write_expect(path: Path, inputs: np.ndarray | dict[str, np.ndarray],
                 preds: np.ndarray | dict[str, np.ndarray]) -> str:
    """``inputs`` and ``preds`` as kipoi's HDF5 reader reads them back; returns the file's md5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for group, values in (("inputs", inputs), ("preds", preds)):
            if isinstance(values, dict):
                for key, value in values.items():
                    f[f"{group}/{key}"] = value
            else:
                f[group] = values
    return file_digest(path, "md5")


TARGET_DOCS = {"classification": "probability of class", "multilabel": "probability of target",
               "regression": "predicted value of"}


def _row(task: str, net: HyenaDNA, weights: str, md5: str, doc: str, expect_url: str, expect_md5: str,
         dataloader: str, labels: list[str] | None = None, target_doc: str = "") -> dict[str, object]:
    cfg = net.config
    return {"target_doc": target_doc, "task": task, "preset": "", "weights": weights, "md5": md5, "d_model": cfg.d_model,
            "l_max": cfg.max_seq_len, "window": default_window(net), "doc": doc, "labels": ";".join(labels or []),
            "test_expect": expect_url, "test_expect_md5": expect_md5, "dataloader": dataloader}


def _write_main(tmp: Path, final: Path, net: HyenaDNA, head: Head | None, md5: str, doc: str) -> str:
    """DIR/model.yaml + dataloader.yaml + the interval (or classifier) test expectation; returns the task."""
    intervals = copy_example(tmp / "example", net.l_max)
    genome = Genome(tmp / "example" / "genome.fa")
    ids = stack_intervals(genome, intervals)
    genome.close()
    task = "classifier" if head is not None else "intervals"
    preds = classifier_outputs(net, head, ids) if head is not None else interval_outputs(net, ids)
    expect_md5 = write_expect(tmp / EXPECT, ids, preds)
    row = _row(task, net, "model", md5, doc, (final / EXPECT).resolve().as_uri(), expect_md5, ".",
               head.columns if head is not None else None, TARGET_DOCS[head.task] if head is not None else "")
    (tmp / "model.yaml").write_text(render_model_yaml(row))
    copy_group_modules(tmp)
    text = (DATALOADER_DIR / "intervals.yaml").read_text()
    (tmp / "dataloader.yaml").write_text("# Written by `hyenadna export-kipoi` (from hyenadna_kipoi/zoo/HyenaDNA/"
                                         "dataloaders/intervals.yaml).\n" + text)
    return task


def _write_variant_effect(tmp: Path, final: Path, net: HyenaDNA, md5: str, doc: str) -> None:
    """DIR/variant-effect/: the same weights (../model) as a variant-effect model, with its expectation."""
    sub = tmp / "variant-effect"
    copy_example(sub / "example", net.l_max)
    window = default_window(net)
    genome = Genome(sub / "example" / "genome.fa")
    samples = allele_samples(genome, sub / "example" / "variants.vcf", window)
    ids = np.stack([allele_tokens(genome, s, window) for s in samples])
    genome.close()
    inputs = {"ref": ids[:, 0], "alt": ids[:, 1]}
    expect_md5 = write_expect(sub / EXPECT, inputs, variant_outputs(net, inputs["ref"], inputs["alt"]))
    row = _row("variant-effect", net, "../model", md5, doc, (final / "variant-effect" / EXPECT).resolve().as_uri(),
               expect_md5, "import")
    (sub / "model.yaml").write_text(render_model_yaml(row))
    copy_group_modules(sub)


def _write_loglik(tmp: Path, final: Path, net: HyenaDNA, md5: str, doc: str) -> None:
    """DIR/loglik/: the same weights (../model) as the group's loglik model, on kipoiseq's SeqIntervalDl.

    The shape of a kipoi/models model: one-hot inputs of the window, one (1,) target with
    column_labels, test.expect on the example regions (:func:`~.expect.example_onehot`).
    """
    sub = tmp / "loglik"
    copy_example(sub / "example", net.l_max)
    window = default_window(net)
    inputs = example_onehot(window, sub / "example")
    preds = single_target(interval_outputs(net, onehot_to_ids(inputs)), "loglik")
    expect_md5 = write_expect(sub / EXPECT, inputs, preds)
    row = _row("loglik", net, "../model", md5, doc, (final / "loglik" / EXPECT).resolve().as_uri(), expect_md5,
               "kipoiseq")
    (sub / "model.yaml").write_text(render_model_yaml(row))
    copy_group_modules(sub)


README = """\
# {name}: a Kipoi model exported by hyenadna-kipoi

Needs the `hyenadna-kipoi` package (it provides the model and dataloader classes).

```bash
kipoi test {path} --source dir
kipoi predict {path} --source dir \\
    --dataloader_args '{{"intervals_file": "regions.bed", "fasta_file": "genome.fa"}}' \\
    --keep_metadata -o predictions.tsv predictions.h5
{variant}```
"""

VARIANT_README = """\
kipoi test {path}/loglik --source dir
kipoi predict {path}/loglik --source dir \\
    --dataloader_args '{{"intervals_file": "regions.bed", "fasta_file": "genome.fa"}}' \\
    --keep_metadata -o loglik.tsv
kipoi test {path}/variant-effect --source dir
kipoi predict {path}/variant-effect --source dir \\
    --dataloader_args '{{"vcf_file": "variants.vcf.gz", "fasta_file": "genome.fa"}}' \\
    --keep_metadata -o variant_effects.tsv
"""


def _clear_target(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not force:
        raise InputError(f"{out} exists; pass --force to replace it")
    if not (out / "model.yaml").exists() or not (out / "model").is_dir():
        raise InputError(f"{out} exists and is not a Kipoi export (no model.yaml and model/); not replacing it")
    shutil.rmtree(out)


def export_model(model: str | os.PathLike, out: str | os.PathLike, *, name: str | None = None,
                 force: bool = False, progress: bool = False) -> Export:
    """Write a Kipoi model directory for ``model`` (a model directory in any layout, or a preset) to ``out``."""
    out = Path(out).absolute()
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to replace it")
    source = _source_dir(model)
    net = load_model(model, progress=progress)
    head = load_head(source, net.config.d_model) if source is not None and has_head(source) else None
    name = name or out.name
    cfg = net.config
    doc = f"{name}: HyenaDNA model ({cfg.n_layer} layers x {cfg.d_model}) exported by hyenadna-kipoi from {model}."
    with atomic_dir(out) as tmp:
        save_model(net, tmp / "model", "own")
        if head is not None:
            save_head(head, tmp / "model")
        md5 = file_digest(tmp / "model" / "model.safetensors", "md5")
        task = _write_main(tmp, out, net, head, md5, doc)
        models = [out]
        if head is None:
            _write_loglik(tmp, out, net, md5, doc)
            _write_variant_effect(tmp, out, net, md5, doc)
            models += [out / "loglik", out / "variant-effect"]
        variant = VARIANT_README.format(path=out) if head is None else ""
        (tmp / "README.md").write_text(README.format(name=name, path=out, variant=variant))
        _clear_target(out, force)
    return Export(out, task, md5, models)
