"""The embedded demo: load a model, convert it, embed and score the bundled sequences.

Run by ``make demo`` (``hyenadna demo --config config/config.yaml``) until the
Snakemake workflow takes over. Every output lands in one folder, listed in its
``summary.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import yaml

from .checkpoints import load_model, save_model
from .cli_args import add_quiet
from .data import read_fasta
from .device import resolve_device
from .errors import ConfigError
from .io import atomic_open
from .score import embed_sequences, sequence_loglik
from .score.embedding_map import plot_embedding_map
from .score.outputs import write_embeddings, write_loglik


def _read_config(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file (the demo's config/config.yaml and data/ belong to the "
                          f"repository, not to the installed package: run `hyenadna demo` in a checkout of it, "
                          f"or pass --config with a demo block whose files exist)")
    with open(path) as handle:
        try:
            config = yaml.safe_load(handle) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
    demo = config.get("demo")
    if not isinstance(demo, dict):
        raise ConfigError(f"{path}: needs a 'demo' mapping (see config/README.md)")
    for key in ("model", "embed", "loglik"):
        if key not in demo:
            raise ConfigError(f"{path}: missing key 'demo.{key}' (see config/README.md)")
    if not isinstance(demo["embed"], dict) or not demo["embed"]:
        raise ConfigError(f"{path}: 'demo.embed' must map class labels to FASTA files")
    if not isinstance(demo["loglik"], dict) or not demo["loglik"].get("fasta"):
        raise ConfigError(f"{path}: 'demo.loglik.fasta' must list FASTA files")
    return demo


def run_demo(config_path: str | os.PathLike, out: str | os.PathLike, *, progress: bool = True) -> Path:
    """Run the demo described by the ``demo`` block of ``config_path``; outputs go to ``out``."""
    demo = _read_config(config_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(demo.get("device", "cpu"))
    batch_size = int(demo.get("batch_size", 16))
    t0 = time.perf_counter()

    model = load_model(demo["model"], device=device, progress=progress)
    save_model(model, out / "model")  # this project's layout; reloadable with load_model
    model = load_model(out / "model", device=device)
    print(f"[demo] model {demo['model']} -> {out / 'model'} (d_model={model.config.d_model}, "
          f"n_layer={model.config.n_layer}, l_max={model.l_max})")

    names, seqs, labels = [], [], []
    for label, fasta in demo["embed"].items():
        for name, seq in read_fasta(fasta):
            names.append(name)
            seqs.append(seq)
            labels.append(label)
    emb = embed_sequences(model, seqs, names=names, batch_size=batch_size, progress=progress)
    write_embeddings(out / "embeddings.npz", names, emb)
    plot_embedding_map(emb, labels, out / "embeddings_pca.png")
    print(f"[demo] embedded {len(seqs)} sequences -> {out / 'embeddings.npz'}, {out / 'embeddings_pca.png'}")

    window = int(demo["loglik"].get("window", model.l_max))
    genome_names, genome_seqs = [], []
    for fasta in demo["loglik"]["fasta"]:
        for name, seq in read_fasta(fasta):
            genome_names.append(f"{Path(fasta).name}:{name}")
            genome_seqs.append(seq)
    scores = sequence_loglik(model, genome_seqs, window=window, names=genome_names, batch_size=batch_size,
                             progress=progress)
    write_loglik(out / "loglik.tsv", genome_names, genome_seqs, scores)
    print(f"[demo] scored {len(genome_seqs)} genomes in {window}-base windows -> {out / 'loglik.tsv'}")

    seconds = time.perf_counter() - t0
    with atomic_open(out / "summary.md") as handle:
        handle.write(f"# HyenaDNA demo\n\nModel: `{demo['model']}` (saved in this project's layout to `model/`), "
                     f"device {device}, {seconds:.1f} s.\n\n")
        handle.write(f"- `embeddings.npz`: mean-pooled embeddings of {len(seqs)} sequences "
                     f"({', '.join(demo['embed'])}), d={model.config.d_model}\n")
        handle.write("- `embeddings_pca.png`: their first two principal components, coloured by class\n")
        handle.write(f"- `loglik.tsv`: log-likelihood and bits per base in {window}-base windows\n\n")
        handle.write("| genome | bases | bits/base |\n|---|---:|---:|\n")
        for name, seq, s in zip(genome_names, genome_seqs, scores):
            handle.write(f"| {name.replace('|', '&#124;')} | {len(seq):,} | {s.bits_per_base:.3f} |\n")
        handle.write("\nA uniform guess over A/C/G/T is 2 bits/base; a trained model scores below that.\n")
    print(f"[demo] done in {seconds:.1f} s; see {out / 'summary.md'}")
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.config, args.out, progress=not args.quiet)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``hyenadna demo`` on the ``hyenadna`` subparsers."""
    p = sub.add_parser("demo", help="run the embedded demo: load a model, embed and score the bundled sequences")
    p.add_argument("--config", default="config/config.yaml", help="demo config (default: config/config.yaml)")
    p.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")
    add_quiet(p)
    p.set_defaults(func=cmd_demo)
