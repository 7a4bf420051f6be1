"""Tasks derived from a GFF3 annotation (hyenadna_kipoi.data.annotation, .annotation_tasks, .blocks) on a
small synthetic genome whose answers are worked out by hand: strand, phases, multi-exon transcripts."""

from __future__ import annotations

import filecmp
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyenadna_kipoi.data.annotation import load_annotation, read_gff
from hyenadna_kipoi.data.annotation_tasks import derive_tasks, resolve_settings
from hyenadna_kipoi.errors import ConfigError, InputError
from hyenadna_kipoi.finetune.inputs import load_task
from hyenadna_kipoi.tokenizer import reverse_complement

LENGTH = 20_000
# 1-based GFF coordinates. t1 (+): exons 1001-1100, 1201-1300, 1401-1500; CDS 1051-1100 (phase 0, 50 bases:
# 16 codons + 2), 1201-1300 (phase 1), 1401-1450 (phase 0). t2 (-): exons 5301-5400, 5001-5100; CDS
# 5322-5380 (phase 0, 59 bases), 5051-5100 (phase 1). lncRNA, pseudogene (-) and tRNA genes for the biotypes.
GFF = """##gff-version 3
c1\tt\tregion\t1\t20000\t.\t+\t.\tID=c1
c1\tt\tgene\t1001\t1500\t.\t+\t.\tID=gene-g1;gene_biotype=protein_coding
c1\tt\tmRNA\t1001\t1500\t.\t+\t.\tID=rna-t1;Parent=gene-g1
c1\tt\texon\t1001\t1100\t.\t+\t.\tParent=rna-t1
c1\tt\texon\t1201\t1300\t.\t+\t.\tParent=rna-t1
c1\tt\texon\t1401\t1500\t.\t+\t.\tParent=rna-t1
c1\tt\tCDS\t1051\t1100\t.\t+\t0\tID=cds-1;Parent=rna-t1
c1\tt\tCDS\t1201\t1300\t.\t+\t1\tID=cds-1;Parent=rna-t1
c1\tt\tCDS\t1401\t1450\t.\t+\t0\tID=cds-1;Parent=rna-t1
c1\tt\tgene\t5001\t5400\t.\t-\t.\tID=gene-g2;gene_biotype=protein_coding
c1\tt\tmRNA\t5001\t5400\t.\t-\t.\tID=rna-t2;Parent=gene-g2
c1\tt\texon\t5301\t5400\t.\t-\t.\tParent=rna-t2
c1\tt\texon\t5001\t5100\t.\t-\t.\tParent=rna-t2
c1\tt\tCDS\t5322\t5380\t.\t-\t0\tID=cds-2;Parent=rna-t2
c1\tt\tCDS\t5051\t5100\t.\t-\t1\tID=cds-2;Parent=rna-t2
c1\tt\tgene\t8001\t8500\t.\t+\t.\tID=gene-g3;gene_biotype=lncRNA;Note=long%3B non-coding
c1\tt\tlnc_RNA\t8001\t8500\t.\t+\t.\tID=rna-t3;Parent=gene-g3
c1\tt\tpseudogene\t12001\t12300\t.\t-\t.\tID=gene-g4;gene_biotype=pseudogene
c1\tt\tgene\t15001\t15072\t.\t+\t.\tID=gene-g5;gene_biotype=tRNA
c1\tt\ttRNA\t15001\t15072\t.\t+\t.\tID=rna-t5;Parent=gene-g5
"""
BLOCKS = "c1\t0\t10000\ttrain\nc1\t10000\t20000\ttest\n"
SETTINGS = {"promoters": {"upstream": 200, "downstream": 50, "min_tss_distance": 300,
                          "transcript_types": ["mRNA", "lnc_RNA", "tRNA"]},
            "splice_sites": {"length": 40, "min_site_distance": 20},
            "biotype": {"max_length": 400, "min_length": 50},
            "variants": {"splits": ["train", "test"], "per_class": 10_000, "flank": [10, 20], "match": "none"}}


def _genome() -> str:
    seq = list(np.random.default_rng(0).choice(list("ACGT"), LENGTH))
    for pos, bases in ((1101, "GT"), (1199, "AG"), (1301, "GT"), (1399, "AG"),  # t1 introns (+), 1-based
                       (5299, "AC"), (5101, "CT")):  # t2's intron on -: GT/AG reverse-complemented
        seq[pos - 1:pos + 1] = list(bases)
    return "".join(seq)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    seq = _genome()
    fasta = tmp_path / "genome.fa"
    fasta.write_text(">c1\n" + "\n".join(seq[i:i + 60] for i in range(0, LENGTH, 60)) + "\n")
    gff = tmp_path / "genes.gff.gz"
    with gzip.open(gff, "wt") as handle:
        handle.write(GFF)
    regions = tmp_path / "blocks.bed"
    regions.write_text(BLOCKS)
    return {"fasta": fasta, "gff": gff, "regions": regions, "seq": seq}


def test_gff_transcripts_exons_cds_and_codon_positions_from_phase(inputs):
    ann = load_annotation(inputs["gff"])
    assert sorted(ann.transcripts) == ["rna-t1", "rna-t2", "rna-t3", "rna-t5"]
    assert ann.genes["gene-g3"].biotype == "lncRNA" and ann.genes["gene-g4"].strand == "-"
    t1, t2 = ann.transcripts["rna-t1"], ann.transcripts["rna-t2"]
    assert t1.introns() == [(1100, 1200), (1300, 1400)] and t2.introns() == [(5100, 5300)]
    assert (t1.tss, t2.tss) == (1000, 5399)
    c1 = {pos + 1: c for pos, c in t1.codon_positions()}  # 1-based keys
    assert (c1[1051], c1[1052], c1[1053], c1[1100], c1[1201], c1[1202], c1[1401]) == (1, 2, 3, 2, 3, 1, 1)
    assert len(c1) == 200
    c2 = {pos + 1: c for pos, c in t2.codon_positions()}
    assert (c2[5380], c2[5379], c2[5378], c2[5322], c2[5100], c2[5099], c2[5051]) == (1, 2, 3, 2, 3, 1, 1)
    assert next(f for f in read_gff(inputs["gff"]) if f.type == "gene" and "g3" in f.attributes["ID"]
                ).attributes["Note"] == "long; non-coding"


def test_derived_tasks_have_the_known_windows_and_read_as_fine_tuning_layouts(inputs, tmp_path):
    out = tmp_path / "tasks"
    counts = derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], out, SETTINGS, seed=0)
    seq = inputs["seq"]
    # promoters: 4 TSSs (t1, t2, t3, t5), 250 bases with the TSS at index 200, read on the transcript's strand
    promoters = {p.name.split("_", 1)[1][:-4]: p.read_text().strip() for p in (out / "promoters").rglob("*.txt")
                 if p.parent.name == "promoter"}
    assert promoters["c1_1001_plus"] == seq[800:1050]
    assert promoters["c1_5400_minus"] == reverse_complement(seq[5399 - 50 + 1:5399 + 200 + 1])
    assert promoters["c1_5400_minus"][200] == reverse_complement(seq[5399])
    assert counts["promoters"][("train", "promoter")] == 3 and counts["promoters"][("test", "promoter")] == 1
    assert counts["promoters"][("train", "non_promoter")] == 3
    # splice sites: boundaries at index 20; donors read GT there, acceptors AG just before, on both strands
    rows = {}
    for split in ("train", "test"):
        lines = (out / "splice_sites" / f"{split}.csv").read_text().splitlines()
        assert lines[0] == "name,sequence,label"
        rows.update({name: (s, label) for name, s, label in (line.split(",") for line in lines[1:])})
    donors = {n: s for n, (s, lab) in rows.items() if lab == "donor"}
    acceptors = {n: s for n, (s, lab) in rows.items() if lab == "acceptor"}
    assert set(donors) == {"c1_1100_plus", "c1_1300_plus", "c1_5300_minus"}
    assert set(acceptors) == {"c1_1200_plus", "c1_1400_plus", "c1_5100_minus"}
    assert all(s[20:22] == "GT" for s in donors.values()) and all(s[18:20] == "AG" for s in acceptors.values())
    assert donors["c1_1100_plus"] == seq[1080:1120]
    assert sum(lab == "neither" for _, lab in rows.values()) == 3  # the mean of 3 donors and 3 acceptors
    # biotype: every class in its own FASTA; the pseudogene (-) and tRNA lie in the test block
    assert (out / "biotype/test/pseudogene.fa").read_text() == (
        f">gene-g4|c1:12001-12300(-)\n{reverse_complement(seq[12000:12300])}\n")
    assert (out / "biotype/train/protein_coding.fa").read_text().count(">") == 2
    # the layouts read back through the fine-tuning readers
    gb = load_task({"name": "p", "kind": "classification", "valid_fraction": 0,
                    "input": {"format": "genomic_benchmarks", "folder": str(out / "promoters")}}, seed=0)
    assert gb.labels == ["non_promoter", "promoter"] and len(gb.splits["test"]) == 2
    assert (out / "splice_sites/test.csv").read_text() == "name,sequence,label\n"  # no intron in the test block
    nt = load_task({"name": "s", "kind": "classification", "valid_fraction": 0, "test_fraction": 0,
                    "input": {"format": "nucleotide_transformer", "train": str(out / "splice_sites/train.csv")}},
                   seed=0)
    assert nt.labels == ["acceptor", "donor", "neither"]


def test_variant_vcf_classes_at_known_positions(inputs, tmp_path):
    out = tmp_path / "tasks"
    derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], out, {"variants": SETTINGS["variants"]})
    lines = (out / "variants.vcf").read_text().splitlines()
    assert lines[0] == "##fileformat=VCFv4.2" and "##contig=<ID=c1,length=20000>" in lines
    records = {int(cols[1]): cols for cols in (line.split("\t") for line in lines if not line.startswith("#"))}
    info = {pos: dict(kv.split("=") for kv in cols[7].split(";")) for pos, cols in records.items()}
    expected = {1051: "codon12", 1052: "codon12", 1053: "codon3", 1201: "codon3", 5380: "codon12",
                5378: "codon3", 5100: "codon3", 1101: "splice_dinucleotide", 1102: "splice_dinucleotide",
                1199: "splice_dinucleotide", 1200: "splice_dinucleotide", 5299: "splice_dinucleotide",
                5102: "splice_dinucleotide", 1111: "intron_flank", 1120: "intron_flank", 1190: "intron_flank",
                1181: "intron_flank", 5290: "intron_flank"}
    assert {pos: info[pos]["CLASS"] for pos in expected} == expected
    assert 1121 not in records and 1110 not in records and 1180 not in records  # offsets 10..19 only
    assert info[1051]["GROUP"] == "constrained" and info[1053]["GROUP"] == "less_constrained"
    assert all(cols[3] == inputs["seq"][pos - 1] and cols[4] != cols[3] for pos, cols in records.items())
    assert list(records) == sorted(records)
    assert sum(i["CLASS"] in ("codon12", "codon3") for i in info.values()) == 200 + 109


def test_variant_classes_are_matched_on_the_ref_alt_change_by_default(inputs, tmp_path):
    from collections import Counter

    out = tmp_path / "tasks"
    settings = {**SETTINGS["variants"]}
    del settings["match"]
    derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], out, {"variants": settings})
    rows = [line.split("\t") for line in (out / "variants.vcf").read_text().splitlines() if not line.startswith("#")]
    by_class: dict[str, Counter] = {}
    for cols in rows:
        assert cols[3] == inputs["seq"][int(cols[1]) - 1] and cols[4] in "ACGT" and cols[4] != cols[3]
        cls = dict(kv.split("=") for kv in cols[7].split(";"))["CLASS"]
        by_class.setdefault(cls, Counter())[(cols[3], cols[4])] += 1
    assert set(by_class) == {"codon12", "codon3", "splice_dinucleotide", "intron_flank"}
    # each less-constrained class holds exactly the REF->ALT changes of its constrained class
    assert by_class["codon12"] == by_class["codon3"] and by_class["splice_dinucleotide"] == by_class["intron_flank"]
    # all sites are drawn (per_class 10,000), so each REF base pairs min(constrained, less constrained) sites
    derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], tmp_path / "all", {"variants": SETTINGS["variants"]})
    refs: dict[str, Counter] = {}
    for line in (tmp_path / "all" / "variants.vcf").read_text().splitlines():
        if not line.startswith("#"):
            cols = line.split("\t")
            refs.setdefault(dict(kv.split("=") for kv in cols[7].split(";"))["CLASS"], Counter())[cols[3]] += 1
    for constrained, other in (("codon12", "codon3"), ("splice_dinucleotide", "intron_flank")):
        expected = sum(min(refs[constrained][b], refs[other][b]) for b in "ACGT")
        assert sum(by_class[constrained].values()) == expected > 0
    with pytest.raises(ConfigError, match=r"variants\.match: 'codon' is not one of ref_alt, none"):
        derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], out, {"variants": {"match": "codon"}})


def test_derivation_is_deterministic_byte_for_byte(inputs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], a, SETTINGS, seed=3)
    derive_tasks(inputs["gff"], inputs["fasta"], inputs["regions"], b, SETTINGS, seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and len(files) > 10
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


def test_cli_step_and_errors_name_the_file_line_and_key(inputs, tmp_path):
    out = tmp_path / "tasks"
    cli = [sys.executable, "-m", "hyenadna_kipoi.cli", "workflow"]
    result = subprocess.run([*cli, "derive-tasks", "--gff", str(inputs["gff"]), "--fasta", str(inputs["fasta"]),
                             "--regions", str(inputs["regions"]), "--out", str(out),
                             "--settings", json.dumps({"biotype": {}})], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "biotype 5" in result.stdout and (out / "summary.tsv").exists() and not (out / "promoters").exists()
    blocks = tmp_path / "blocks.bed"
    result = subprocess.run([*cli, "blocks", str(inputs["fasta"]), "--out", str(blocks), "--block-size", "1000"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    splits = [line.split("\t")[3] for line in blocks.read_text().splitlines()]
    assert len(splits) == 20 and splits[8:10] == ["valid", "test"] and splits[18:20] == ["valid", "test"]
    with pytest.raises(ConfigError, match=r"splice_sites\.lenght: unknown key"):
        resolve_settings({"splice_sites": {"lenght": 3}})
    bad = tmp_path / "bad.gff"
    bad.write_text(GFF.replace("1051\t1100", "1051\tx"))
    with pytest.raises(InputError, match=r"bad\.gff, line 8: start and end must be integers"):
        load_annotation(bad)
    regions = tmp_path / "r.bed"
    regions.write_text("c1\t0\t100\tholdout\n")
    with pytest.raises(InputError, match=r"r\.bed, line 1: column 4 must be the split"):
        derive_tasks(inputs["gff"], inputs["fasta"], regions, out, {})
