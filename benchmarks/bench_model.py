"""Plain path vs fast path of the whole backbone: forward time and peak memory, fwd+bwd throughput.

Every measurement on the CPU runs in its own subprocess, so its peak resident memory
is its own (``ru_maxrss``); plain and fast runs alternate (``--repeats`` rounds), so a
machine whose load drifts slows both alike. A run that does not fit (address space capped at
``--mem-limit-gb``) fails alone and is reported as such. On CUDA the runs share the
process and peak memory is ``torch.cuda.max_memory_allocated``.

    python benchmarks/bench_model.py                     # CPU table, all shapes and lengths
    python benchmarks/bench_model.py --lengths 1k,16k    # a subset
    python benchmarks/bench_model.py --shapes tiny --lengths 128k,1M --repeats 3 --no-train   # the CPU targets
    python benchmarks/bench_model.py --device cuda       # GPU table
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from hyenadna_kipoi import HyenaConfig, HyenaDNA

SHAPES = {"tiny": (2, 128), "large": (8, 256)}  # n_layer, d_model
LENGTHS = {"1k": 1024, "16k": 16384, "128k": 131072, "1M": 1_000_000}


def build(shape: str, L: int, device: str, dtype: torch.dtype = torch.float32) -> HyenaDNA:
    n_layer, d_model = SHAPES[shape]
    torch.manual_seed(0)
    return HyenaDNA(HyenaConfig(d_model=d_model, n_layer=n_layer, max_seq_len=max(L, 1026))).to(device, dtype).eval()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def forward_run(shape: str, L: int, path: str, device: str, calls: int) -> dict:
    """Time ``calls`` forwards (the first is cold: filter spectra not cached yet) and peak memory."""
    model = build(shape, L, device)
    model.fast_path = path == "fast"
    ids = torch.randint(7, 11, (1, L), generator=torch.Generator().manual_seed(1)).to(device)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20
    times = []
    with torch.inference_mode():
        for _ in range(calls):
            _sync(device)
            t0 = time.perf_counter()
            model.embed(ids)
            _sync(device)
            times.append(time.perf_counter() - t0)
    out = {"times": times}
    if device.startswith("cuda"):
        out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20 - base_cuda
    else:
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["base_mb"] = base_rss
    return out


def train_run(shape: str, L: int, checkpointing: bool, device: str, steps: int = 2) -> dict:
    """Tokens/s of forward + backward on the plain path (the training fast path: benchmarks/bench_train.py)."""
    model = build(shape, L, device).train()
    model.set_gradient_checkpointing(checkpointing)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(7, 11, (1, L), generator=torch.Generator().manual_seed(1)).to(device)
    times = []
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        _sync(device)
        t0 = time.perf_counter()
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"tokens_per_s": (L - 1) / min(times), "peak_mb": peak}


def _worker(args: argparse.Namespace) -> None:
    limit = int(args.mem_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        if args.worker == "forward":
            result = forward_run(args.shape, args.length, args.path, "cpu", args.calls)
        else:
            result = train_run(args.shape, args.length, args.path == "checkpointing", "cpu")
    except (MemoryError, RuntimeError) as err:
        result = {"error": f"did not fit in {args.mem_limit_gb:g} GB" if "memory" in str(err).lower()
                  or isinstance(err, MemoryError) else str(err)[:200]}
    print("RESULT " + json.dumps(result))


def _spawn(kind: str, shape: str, L: int, path: str, calls: int, mem_limit_gb: float, timeout: int,
           env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--shape", shape, "--length", str(L), "--path", path,
           "--calls", str(calls), "--mem-limit-gb", str(mem_limit_gb)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if proc.returncode < 0 or "MemoryError" in proc.stderr or "alloc" in proc.stderr.lower():
        return {"error": f"did not fit in {mem_limit_gb:g} GB ({tail[:80]})"}
    return {"error": tail[:160]}


def _fmt_time(r: dict, which: int = 0) -> str:
    if "error" in r:
        return r["error"]
    t = r["times"][min(which, len(r["times"]) - 1)]
    return f"{t:.2f}" if t >= 1 else f"{t:.4f}"


def _forward_mb(r: dict) -> float:
    """Memory the forward itself took: peak minus the baseline after building the model (CPU)."""
    return r["peak_mb"] - r.get("base_mb", 0.0)


def _fmt_mem(r: dict) -> str:
    if "error" in r:
        return "—"
    total = f" ({r['peak_mb'] / 1024:.2f})" if "base_mb" in r else ""
    return f"{_forward_mb(r) / 1024:.2f}{total}"


CACHE_ALL = {"HYENADNA_FILTER_CACHE_MB": "1000000"}


#: The CPU fp32 targets (kernels issue, item 4): (shape, length) -> (min speed-up, max fast/plain
#: forward memory ratio, max fast process peak in GB); None: no bound.
TARGETS = {("tiny", "128k"): (2.5, 0.5, None), ("tiny", "1M"): (2.0, None, 4.0)}


def _alternating(shape: str, L: int, device: str, mem_limit_gb: float, timeout: int, repeats: int) -> dict:
    """plain, fast, fast with every spectrum cached, in turn, ``repeats`` times (CPU: a process each);
    every run times two calls. Returns the runs of each path."""
    runs: dict[str, list[dict]] = {"plain": [], "fast": [], "cached": []}
    for _ in range(repeats):
        for name, path, env in (("plain", "plain", None), ("fast", "fast", None), ("cached", "fast", CACHE_ALL)):
            if device == "cpu":
                runs[name].append(_spawn("forward", shape, L, path, 2, mem_limit_gb, timeout, env=env))
            else:
                os.environ.update(env or {})
                runs[name].append(_in_process(forward_run, shape, L, path, device, 2))
                if env:
                    del os.environ["HYENADNA_FILTER_CACHE_MB"]
    return runs


def _best(runs: list[dict]) -> dict:
    """The run with the fastest second call (the peak memory: the largest of any run)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = dict(min(ok, key=lambda r: r["times"][-1]))
    best["peak_mb"] = max(r["peak_mb"] for r in ok)
    return best


def _verdict(shape: str, name: str, plain: dict, fast: dict) -> str | None:
    target = TARGETS.get((shape, name))
    if target is None or "error" in plain or "error" in fast:
        return None
    speed_min, ratio_max, peak_max = target
    speed = plain["times"][-1] / fast["times"][-1]
    ratio = _forward_mb(fast) / _forward_mb(plain)
    checks = [f"speed-up {speed:.2f}× (≥ {speed_min}×: {'met' if speed >= speed_min else 'MISSED'})"]
    if ratio_max is not None:
        checks.append(f"memory ratio {ratio:.2f} (≤ {ratio_max}: {'met' if ratio <= ratio_max else 'MISSED'})")
    if peak_max is not None:
        peak = fast["peak_mb"] / 1024
        checks.append(f"process peak {peak:.2f} GB (≤ {peak_max:g} GB: {'met' if peak <= peak_max else 'MISSED'})")
    return f"- {shape} at {name}: " + "; ".join(checks)


def forward_table(shapes: list[str], lengths: list[str], device: str, mem_limit_gb: float, timeout: int,
                  repeats: int = 1) -> str:
    rows = ["| model | L | plain fwd (s) | plain peak (GB) | fast fwd (s) | fast peak (GB) | speed-up | memory ratio "
            "| fast, spectra cached: warm fwd (s) | peak (GB) | speed-up | fast/plain, each round |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    verdicts = []
    for shape in shapes:
        for name in lengths:
            runs = _alternating(shape, LENGTHS[name], device, mem_limit_gb, timeout, repeats)
            plain, fast, cached = (_best(runs[k]) for k in ("plain", "fast", "cached"))

            def ratio(a: dict, b: dict, fn) -> str:
                return "—" if "error" in a or "error" in b else fn(a, b)

            speed = ratio(plain, fast, lambda p, f: f"{p['times'][-1] / f['times'][-1]:.2f}×")
            mem = ratio(plain, fast, lambda p, f: f"{_forward_mb(f) / _forward_mb(p):.2f}")
            speed_cached = ratio(plain, cached, lambda p, c: f"{p['times'][-1] / c['times'][-1]:.2f}×")
            rounds = ", ".join(ratio(p, f, lambda p, f: f"{p['times'][-1] / f['times'][-1]:.2f}×")
                               for p, f in zip(runs["plain"], runs["fast"]))
            label = f"{shape} ({SHAPES[shape][0]}×{SHAPES[shape][1]})"
            rows.append(f"| {label} | {name} | {_fmt_time(plain, -1)} | {_fmt_mem(plain)} | {_fmt_time(fast, -1)} | "
                        f"{_fmt_mem(fast)} | {speed} | {mem} | {_fmt_time(cached, -1)} | {_fmt_mem(cached)} "
                        f"| {speed_cached} | {rounds} |")
            print(rows[-1], flush=True)
            verdict = _verdict(shape, name, plain, fast)
            if verdict:
                verdicts.append(verdict)
                print(verdict, flush=True)
    if verdicts:
        rows += ["", "Against the CPU fp32 targets (fast = the default fast path, second call; plain = the "
                 "released code's path, second call):", "", *verdicts]
    return "\n".join(rows)


def _in_process(fn, *args) -> dict:
    """Run one GPU measurement; an out-of-memory or other failure becomes the row's note."""
    try:
        return fn(*args)
    except (RuntimeError, MemoryError) as err:
        torch.cuda.empty_cache()
        return {"error": "out of GPU memory" if "out of memory" in str(err) else str(err)[:120]}


def train_table(shapes: list[str], device: str, mem_limit_gb: float, timeout: int, L: int = 16384) -> str:
    rows = ["| model | L | fwd+bwd tokens/s | peak (GB) | with gradient checkpointing: tokens/s | peak (GB) |",
            "|---|---:|---:|---:|---:|---:|"]
    for shape in shapes:
        cells = []
        for ckpt in (False, True):
            if device == "cpu":
                r = _spawn("train", shape, L, "checkpointing" if ckpt else "plain", 1, mem_limit_gb, timeout)
            else:
                r = _in_process(train_run, shape, L, ckpt, device)
            cells += ([r["error"], "—"] if "error" in r else [f"{r['tokens_per_s']:,.0f}", f"{r['peak_mb'] / 1024:.2f}"])
        rows.append(f"| {shape} ({SHAPES[shape][0]}×{SHAPES[shape][1]}) | 16k | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default="tiny,large")
    parser.add_argument("--lengths", default="1k,16k,128k,1M")
    parser.add_argument("--mem-limit-gb", type=float, default=22.0, help="address-space cap per CPU run")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per CPU run")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of plain/fast/cached runs, in turn")
    parser.add_argument("--no-train", action="store_true", help="skip the fwd+bwd table")
    parser.add_argument("--out", help="also write the tables (markdown) here")
    parser.add_argument("--worker", choices=("forward", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    shapes, lengths = args.shapes.split(","), args.lengths.split(",")
    text = [f"### Forward, batch 1, fp32, {args.device}\n",
            f"Every run times two calls and reports the second. Plain, fast and fast with spectra cached run in "
            f"turn, {args.repeats} round(s); each column is its fastest round (peak: its largest). fast = the default "
            "fast path (the filter cache holds at most HYENADNA_FILTER_CACHE_MB = 64 MB per layer: the spectrum "
            "while it fits, else the filter itself, else nothing, so at long L each call remakes the spectra: "
            "the lean setting); spectra cached = every spectrum kept (faster for repeated calls at one length, "
            "more memory). "
            + ("Peak = the forward's peak resident memory above the process after building the model, "
               "with the process total in brackets; memory ratio = fast / plain of the former." if args.device == "cpu"
               else "Peak = torch.cuda.max_memory_allocated beyond the model.") + "\n",
            forward_table(shapes, lengths, args.device, args.mem_limit_gb, args.timeout, args.repeats)]
    if not args.no_train:
        text += [f"\n### Forward + backward at 16k, batch 1, fp32, {args.device} (plain path; the training fast "
                 "path is compared in bench_train.py)\n", train_table(shapes, args.device, args.mem_limit_gb, args.timeout)]
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(text) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    main()
