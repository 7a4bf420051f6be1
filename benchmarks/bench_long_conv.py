"""Benchmark of the gated long convolution (causal_conv(z, k) + D z) * x0 alone.

Methods, per dtype and length (B=1, d=256 by default):

* ``reference``     - kernels.long_conv_reference: the model's torch.fft formula, k_f
  recomputed every call (as the released model does).
* ``chunked``       - kernels.long_conv.long_conv_chunked with a cached k_f (torch only).
* ``triton-direct`` - blocked Toeplitz Triton kernel (CUDA; only up to --direct-max).
* ``triton-fft``    - cuFFT transforms + fused Triton epilogue, cached k_f (CUDA).

Each row reports the median time, the speed-up over ``reference``, the max abs error
against a float32 reference on the same inputs, and (CUDA) the peak memory allocated
on top of the inputs. A failing row (OOM, compile error...) prints its error in the
table instead of stopping the run; rows past the --budget seconds are skipped.

    python benchmarks/bench_long_conv.py --out benchmarks/results/long_conv.md
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from importlib import import_module
from pathlib import Path

import torch

try:
    from hyenadna_kipoi import kernels as K
except ImportError:  # not installed: the checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hyenadna_kipoi import kernels as K

LC = import_module(K.__name__ + ".long_conv")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_lengths(text: str) -> list[int]:
    out = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        mult = {"k": 1024, "m": 1024 * 1024}.get(tok[-1:], 1)
        out.append(int(float(tok.rstrip("km")) * mult))
    return out


def fmt_len(L: int) -> str:
    if L % (1024 * 1024) == 0:
        return f"{L // (1024 * 1024)}M"
    return f"{L // 1024}k" if L % 1024 == 0 else str(L)


def time_fn(fn: Callable[[], torch.Tensor], cuda: bool, warmup: int, iters: int, max_s: float) -> float:
    """Median milliseconds of fn(); stops early once max_s of timed runs is spent."""
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times: list[float] = []
    spent = 0.0
    for _ in range(iters):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            ms = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            fn()
            ms = (time.perf_counter() - t0) * 1e3
        times.append(ms)
        spent += ms / 1e3
        if spent > max_s and len(times) >= 3:
            break
    return statistics.median(times)


def peak_extra_mib(fn: Callable[[], torch.Tensor]) -> float:
    """Peak CUDA memory allocated during one call, above what was allocated before (MiB)."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del out
    return peak / 2**20


def make_inputs(L: int, d: int, B: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator(device=device).manual_seed(seed)
    z = torch.randn(B, L, d, device=device, generator=g).to(dtype)
    x0 = torch.randn(B, L, d, device=device, generator=g).to(dtype)
    # A decaying filter, as the model's exponential modulation makes it.
    t = torch.arange(L, device=device, dtype=torch.float32)[:, None] / max(L - 1, 1)
    decay = torch.exp(-t * torch.linspace(0.3, 10.0, d, device=device))
    k = torch.randn(L, d, device=device, generator=g) * decay / math.sqrt(L)
    D = torch.randn(d, device=device, generator=g)
    return z, k, D, x0


def main(argv: list[str] | None = None) -> int:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default="1k,4k,16k,64k,256k,1M" if cuda else "1k,4k,16k,64k")
    ap.add_argument("--dtypes", default="fp32,bf16,fp16" if cuda else "fp32")
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--direct-max", type=int, default=16384, help="longest L timed for triton-direct")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--max-s-per-method", type=float, default=1.5, help="timed seconds per method and row")
    ap.add_argument("--budget", type=float, default=150.0, help="total seconds; later rows are skipped")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument("--traceback", action="store_true", help="print tracebacks of failing rows")
    args = ap.parse_args(argv)

    device = "cuda" if cuda else "cpu"
    t_start = time.perf_counter()
    lines: list[str] = []

    def emit(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        import triton

        triton_version = triton.__version__
        triton_ok = cuda
    except Exception as exc:  # noqa: BLE001
        triton_version = f"unavailable ({type(exc).__name__})"
        triton_ok = False
    dev_name = torch.cuda.get_device_name() if cuda else platform.processor() or "CPU"
    emit(f"# Long convolution benchmark: (causal_conv(z, k) + D z) * x0, B={args.batch}, d={args.d}")
    emit()
    emit(f"device: {dev_name}; torch {torch.__version__}; triton {triton_version}; "
         f"python {platform.python_version()}; DIRECT_MAX_L={LC.DIRECT_MAX_L}")
    emit("time: median ms over up to "
         f"{args.iters} runs after {args.warmup} warm-ups ({'CUDA events' if cuda else 'perf_counter'}); "
         "err: max |out - ref32| with ref32 the float32 reference on the same inputs, "
         "and its ratio to max |ref32|; mem: peak CUDA memory allocated by one call beyond the inputs.")
    if not triton_ok:
        emit("No CUDA device or no triton: the Triton rows are left out (the Triton interpreter "
             "is for correctness only)" + ("." if cuda else ", and so is peak memory."))
    emit()
    emit("| dtype | L | method | time (ms) | vs reference | max abs err | rel err | peak mem (MiB) | note |")
    emit("|---|---|---|---:|---:|---:|---:|---:|---|")

    methods = ["reference", "chunked", "triton-direct", "triton-fft"]
    for dname in [s.strip() for s in args.dtypes.split(",") if s.strip()]:
        dtype = DTYPES[dname]
        for L in parse_lengths(args.lengths):
            lab = fmt_len(L)
            if time.perf_counter() - t_start > args.budget:
                emit(f"| {dname} | {lab} | all | | | | | | skipped: time budget of {args.budget:.0f} s spent |")
                continue
            try:
                z, k, D, x0 = make_inputs(L, args.d, args.batch, dtype, device)
                ref32 = LC.long_conv_reference(z.float(), k, D, x0.float())
                scale = ref32.abs().max().item()
                k_f = LC.filter_spectrum(k)
            except Exception as exc:  # noqa: BLE001
                emit(f"| {dname} | {lab} | setup | | | | | | ERROR {type(exc).__name__}: {str(exc)[:120]} |")
                z = k = D = x0 = ref32 = k_f = None
                if cuda:
                    torch.cuda.empty_cache()
                continue
            ref_ms = None
            for m in methods:
                note = ""
                if m.startswith("triton") and not triton_ok:
                    continue  # said once in the header
                if m == "triton-direct" and L > args.direct_max:
                    continue
                fn = {
                    "reference": partial(LC.long_conv_reference, z, k, D, x0),
                    "chunked": partial(LC.long_conv_chunked, z, k_f, D, x0),
                    "triton-direct": partial(LC.long_conv_direct_triton, z, k, D, x0),
                    "triton-fft": partial(LC.long_conv_fft_triton, z, k_f, D, x0),
                }[m]
                try:
                    with torch.no_grad():
                        out = fn()
                        err = (out.float() - ref32).abs().max().item()
                        del out
                        ms = time_fn(fn, cuda, args.warmup, args.iters, args.max_s_per_method)
                        mem = f"{peak_extra_mib(fn):.0f}" if cuda else "n/a"
                    if m == "reference":
                        ref_ms = ms
                    speed = f"{ref_ms / ms:.2f}x" if ref_ms else ""
                    emit(f"| {dname} | {lab} | {m} | {ms:.3f} | {speed} | {err:.2e} | "
                         f"{err / max(scale, 1e-30):.1e} | {mem} | {note} |")
                except Exception as exc:  # noqa: BLE001 - report the row, keep going
                    msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:160].replace("|", "/")
                    emit(f"| {dname} | {lab} | {m} | | | | | | ERROR {msg} |")
                    if args.traceback:
                        traceback.print_exc()
                    if cuda:
                        torch.cuda.empty_cache()
            z = k = D = x0 = ref32 = k_f = None
            if cuda:
                torch.cuda.empty_cache()
    emit()
    emit(f"total wall time: {time.perf_counter() - t_start:.1f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
