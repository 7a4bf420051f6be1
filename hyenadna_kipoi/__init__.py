"""hyenadna-kipoi: the HyenaDNA long-range DNA language model as genomics software.

The public API::

    from hyenadna_kipoi import load_model, encode_batch
    model = load_model("tiny-1k")                      # preset, or a model directory in any layout
    ids = torch.from_numpy(encode_batch(["ACGT..."]))  # [B, L] token ids, left-padded
    logits = model(ids)                                # [B, L, 16]
    hidden = model.embed(ids)                          # [B, L, d_model]
"""

from . import numerics

numerics.configure()  # before any computation: fixed threads, no dynamic teams, MKL reproducible mode

from ._version import __version__
from .checkpoints import PRESETS, convert, load_model, save_model
from .errors import CheckpointError, ConfigError, DownloadError, HyenaDNAError, InputError
from .model import HyenaConfig, HyenaDNA, count_parameters
from .tokenizer import decode, decode_batch, encode, encode_batch

__all__ = [
    "PRESETS", "CheckpointError", "ConfigError", "DownloadError", "HyenaConfig", "HyenaDNA", "HyenaDNAError",
    "InputError", "convert", "count_parameters", "decode", "decode_batch", "encode", "encode_batch", "load_model",
    "save_model",
]


def __getattr__(name: str):
    """Import the ``kipoi`` subpackage on first attribute access.

    Kipoi resolves ``defined_as: hyenadna_kipoi.kipoi.model.HyenaDNAModel`` by importing
    ``hyenadna_kipoi`` and walking attributes; it never imports submodules itself.
    """
    if name == "kipoi":
        import importlib

        return importlib.import_module(f"{__name__}.kipoi")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
