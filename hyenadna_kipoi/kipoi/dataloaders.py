"""Kipoi dataloaders: BED + FASTA -> token ids, and VCF + FASTA -> REF/ALT windows.

Both are ``kipoi.data.Dataset`` s, so kipoi batches them and runs them in worker processes
(``kipoi predict --num_workers``). Their Kipoi descriptions (arguments, examples, output
schema) are the yaml files in ``hyenadna_kipoi/zoo/HyenaDNA/dataloaders/``, attached to the
classes on import, so ``--dataloader hyenadna_kipoi.kipoi.dataloaders.VariantDataset`` works
as well as the models' ``default_dataloader``. The samples themselves are built by
:mod:`.samples`; the FASTA is opened lazily in each process.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, TypeVar

from kipoi.data import Dataset
from kipoi.metadata import GenomicRanges
from kipoi.specs import DataLoaderDescription

from ..data.genome import LazyGenome, read_bed
from ..errors import ConfigError, InputError
from . import DATALOADER_DIR
from .compat import restore_numpy_aliases
from .samples import allele_label, allele_samples, allele_tokens, interval_tokens, resize

restore_numpy_aliases()

D = TypeVar("D", bound=type)


def described_by(yaml_name: str) -> Callable[[D], D]:
    """Attach the Kipoi description in ``DATALOADER_DIR/yaml_name`` to a dataloader class.

    Its ``args`` must be exactly the class's ``__init__`` parameters; ``optional`` is set
    from the signature (a parameter with a default is optional), as kipoi's own
    ``kipoi_dataloader`` decorator does.
    """

    def attach(cls: D) -> D:
        path = DATALOADER_DIR / yaml_name
        descr = DataLoaderDescription.load(str(path))
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        if set(descr.args) != {p.name for p in params}:
            raise ConfigError(f"{path}: args {sorted(descr.args)} differ from {cls.__name__}'s parameters "
                              f"{[p.name for p in params]}")
        for p in params:
            descr.args[p.name].optional = p.default is not inspect.Parameter.empty
        return cls._add_description_factory(descr)

    return attach


@described_by("intervals.yaml")
class IntervalDataset(Dataset):
    """BED intervals on a FASTA -> ``{"inputs": ids [L], "metadata": {"ranges": ...}}``.

    ``L`` is ``length`` or the longest interval; shorter intervals are left-padded with [PAD].
    """

    def __init__(self, intervals_file: str, fasta_file: str, length: int | None = None):
        if length is not None and int(length) < 2:
            raise InputError(f"length must be at least 2 bases, got {length}")
        self.length = None if length is None else int(length)
        self.intervals = [resize(iv, self.length) for iv in read_bed(Path(intervals_file).resolve())]
        if not self.intervals:
            raise InputError(f"{intervals_file}: no intervals")
        self.width = max(iv.end - iv.start for iv in self.intervals)
        self.genome = LazyGenome(fasta_file)

    def __len__(self) -> int:
        return len(self.intervals)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        iv = self.intervals[idx]
        ids = interval_tokens(self.genome.get(), iv, self.width, pad=self.length is not None)
        ranges = GenomicRanges(chr=iv.chrom, start=iv.start, end=iv.end, id=iv.label, strand=iv.strand)
        return {"inputs": ids, "metadata": {"ranges": ranges}}


@described_by("variants.yaml")
class VariantDataset(Dataset):
    """VCF alleles on a FASTA -> ``{"inputs": {"ref": [W], "alt": [W]}, "metadata": {...}}``."""

    def __init__(self, vcf_file: str, fasta_file: str, window: int | None = None):
        if window is None:
            raise InputError("VariantDataset needs `window`: the model's l_max - 2, at most 32,768 (e.g. 1024 for "
                             "tiny-1k); the HyenaDNA/<preset>/variant-effect models set it for you")
        if int(window) < 2:
            raise InputError(f"window must be at least 2 bases, got {window}")
        self.window = int(window)
        self.genome = LazyGenome(fasta_file)
        self.samples = allele_samples(self.genome.get(), Path(vcf_file).resolve(), self.window)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        s = self.samples[idx]
        ids = allele_tokens(self.genome.get(), s, self.window)
        start = s.pos - 1 - self.window // 2
        return {
            "inputs": {"ref": ids[0], "alt": ids[1]},
            "metadata": {
                "variant": {"chr": s.chrom, "pos": s.pos, "id": s.id, "ref": s.ref, "alt": s.alt},
                "status": s.status,
                "ranges": GenomicRanges(chr=s.chrom, start=start, end=start + self.window, id=allele_label(s),
                                        strand="*"),
            },
        }
