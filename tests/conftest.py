"""Shared paths and fixtures for the test suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
BUNDLED_FIXTURE = DATA / "fixtures" / "parity-a"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
GENOME = DATA / "genomes" / "human_hg19_sample_segments.fa"  # the bundled FASTA sample (plain text)


def read_plain_fasta(path: Path) -> dict[str, str]:
    """A FASTA read line by line with no library: name -> sequence (an independent reading)."""
    seqs: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        elif line.strip():
            seqs[name].append(line.strip())
    return {k: "".join(v) for k, v in seqs.items()}


@pytest.fixture(scope="module")
def genome_text() -> dict[str, str]:
    """The bundled genome sample as name -> sequence."""
    return read_plain_fasta(GENOME)


@pytest.fixture
def fasta(tmp_path: Path) -> Path:
    """A private copy of the bundled genome sample (pyfaidx writes its .fai beside the FASTA)."""
    path = tmp_path / "genome.fa"
    shutil.copy(GENOME, path)
    return path


def parity_fixture_dirs() -> list[Path]:
    """Every reference-parity fixture: the bundled one plus any in ../shared/fixtures (unseen ones too)."""
    found = {p.name: p for p in sorted(SHARED_FIXTURES.glob("parity-*")) if (p / "expected.npz").exists()}
    found.setdefault(BUNDLED_FIXTURE.name, BUNDLED_FIXTURE)
    return [found[k] for k in sorted(found)]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may touch the network or the user's cache."""
    monkeypatch.setenv("HYENADNA_OFFLINE", "1")
    monkeypatch.setenv("HYENADNA_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("HYENADNA_HUB_URL", raising=False)


@pytest.fixture(scope="session")
def fixture_model_dir() -> Path:
    return BUNDLED_FIXTURE / "original"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_report_header(config: pytest.Config) -> str:
    return "parity fixtures: " + ", ".join(str(p) for p in parity_fixture_dirs())


os.environ.setdefault("MPLBACKEND", "Agg")
# Uninitialised kernel/fast-path buffers are NaN-filled in every test (and in the processes
# the tests start), so a read of an element nobody wrote fails the comparison instead of
# passing or failing by the allocator's history (hyenadna_kipoi/kernels/_alloc.py).
os.environ.setdefault("HYENADNA_POISON_EMPTY", "1")
# Without CUDA, Triton kernels can only run in its interpreter, which must be switched on
# before triton is first imported: here, before any test module is collected.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
