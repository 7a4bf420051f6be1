"""A full training step (forward, backward, AdamW) on the fast path vs the released architecture.

The reference is the plain path (``model.py`` recorded by autograd: the release's formulas,
module by module, which ``tests/test_parity.py`` checks against the released code's outputs);
"fast" is the same model with ``set_fast_training(True)`` (``hyenadna_kipoi/fast_train.py``: in
fp32 on a CPU, each Hyena operator is ``kernels/hyena_channel_first.py``'s Function).
Both start from the same weights (seed 0) and see the same batch; the step is forward,
next-token cross-entropy, backward, ``AdamW.step`` (the trainers' parameter groups and
``train/optim.py``'s AdamW, torch's default implementation, on both paths) and ``zero_grad``.

Every measurement runs in its own subprocess (so its peak resident memory is its own,
``ru_maxrss``; a run that does not fit under ``--mem-limit-gb`` of address space fails alone),
and the two paths alternate: plain, fast, plain, fast ... (``--rounds``), so that load from
other processes on a shared machine falls on both. Reported per path: the best round's
tokens/s by wall clock and by this process's CPU time (less sensitive to other processes
taking the cores), and the peak memory of the steps above the process after building the
model and optimizer.

    python benchmarks/bench_train.py                                  # CPU: tiny, small at 1k, 32k, 160k
    python benchmarks/bench_train.py --shapes tiny --lengths 32k --rounds 3
    python benchmarks/bench_train.py --device cuda --lengths 32k,160k,1M --amp bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from hyenadna_kipoi import HyenaConfig, HyenaDNA
from hyenadna_kipoi.train.optim import adamw

SHAPES = {"tiny": (2, 128), "small": (4, 256)}  # n_layer, d_model
LENGTHS = {"1k": 1024, "32k": 32768, "160k": 163840, "1M": 1_048_576}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_steps(shape: str, L: int, fast: bool, device: str, steps: int, batch: int, amp: str | None) -> dict:
    """``steps`` timed training steps after one warm-up step; tokens = batch x L per step."""
    n_layer, d_model = SHAPES[shape]
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=d_model, n_layer=n_layer, max_seq_len=L + 2, embed_dropout=0.0))
    model.to(device).train()
    model.set_fast_training(fast)
    opt = adamw(model, lr=1e-4, weight_decay=0.1)
    ids = torch.randint(7, 11, (batch, L + 1), generator=torch.Generator().manual_seed(1)).to(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20

    def step() -> float:
        with torch.autocast(device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    losses = [step()]
    walls, cpus = [], []
    for _ in range(steps):
        _sync(device)
        w0, c0 = time.perf_counter(), time.process_time()
        losses.append(step())
        _sync(device)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    out = {"walls": walls, "cpus": cpus, "tokens": batch * L, "losses": losses}
    if device.startswith("cuda"):
        out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20 - base_cuda
    else:
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_rss
        out["total_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _worker(args: argparse.Namespace) -> None:
    limit = int(args.mem_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = train_steps(args.shape, args.length, args.path == "fast", "cpu", args.steps, args.batch, None)
    except (MemoryError, RuntimeError) as err:
        result = {"error": f"did not fit in {args.mem_limit_gb:g} GB" if "memory" in str(err).lower()
                  or isinstance(err, MemoryError) else str(err)[:200]}
    print("RESULT " + json.dumps(result))


def _spawn(shape: str, L: int, path: str, steps: int, batch: int, mem_limit_gb: float, timeout: int,
           threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--shape", shape, "--length", str(L), "--path", path,
           "--steps", str(steps), "--batch", str(batch), "--mem-limit-gb", str(mem_limit_gb)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if proc.returncode < 0 or "MemoryError" in proc.stderr or "alloc" in proc.stderr.lower():
        return {"error": f"did not fit in {mem_limit_gb:g} GB ({tail[:80]})"}
    return {"error": tail[:160]}


def _measure(shape: str, L: int, path: str, args: argparse.Namespace) -> dict:
    steps = args.steps or (3 if L <= 32768 else 1)
    if args.device == "cpu":
        return _spawn(shape, L, path, steps, args.batch, args.mem_limit_gb, args.timeout, args.threads)
    try:
        return train_steps(shape, L, path == "fast", args.device, steps, args.batch, args.amp)
    except (RuntimeError, MemoryError) as err:
        torch.cuda.empty_cache()
        return {"error": "out of GPU memory" if "out of memory" in str(err) else str(err)[:120]}


def _best(runs: list[dict]) -> dict | None:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return None
    return {"wall": min(min(r["walls"]) for r in ok), "cpu": min(min(r["cpus"]) for r in ok),
            "peak_mb": max(r["peak_mb"] for r in ok), "tokens": ok[0]["tokens"],
            "rounds": [round(min(r["walls"]), 3) for r in ok], "losses": ok[0]["losses"]}


def table(args: argparse.Namespace) -> str:
    rows = ["| model | L | reference tokens/s (wall) | fast tokens/s (wall) | speed-up (wall) | speed-up (CPU time) "
            "| reference peak (GB) | fast peak (GB) | memory ratio | best wall per round, ref / fast (s) "
            "| max abs loss diff |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for shape in args.shapes.split(","):
        for name in args.lengths.split(","):
            L = LENGTHS[name]
            runs: dict[str, list[dict]] = {"plain": [], "fast": []}
            for _ in range(args.rounds):
                for path in ("plain", "fast"):
                    r = _measure(shape, L, path, args)
                    runs[path].append(r)
                    print(f"# {shape} {name} {path}: " + (r["error"] if "error" in r else
                          f"wall {min(r['walls']):.3f} s, cpu {min(r['cpus']):.3f} s, peak {r['peak_mb']:.0f} MB"),
                          file=sys.stderr, flush=True)
            p, f = _best(runs["plain"]), _best(runs["fast"])
            label = f"{shape} ({SHAPES[shape][0]}×{SHAPES[shape][1]})"

            def tps(b: dict | None, errs: list[dict]) -> str:
                return f"{b['tokens'] / b['wall']:,.0f}" if b else errs[0]["error"]

            cells = [tps(p, runs["plain"]), tps(f, runs["fast"])]
            if p and f:
                cells += [f"{p['wall'] / f['wall']:.2f}×", f"{p['cpu'] / f['cpu']:.2f}×",
                          f"{p['peak_mb'] / 1024:.2f}", f"{f['peak_mb'] / 1024:.2f}", f"{f['peak_mb'] / p['peak_mb']:.2f}",
                          " · ".join(f"{a} / {b}" for a, b in zip(p["rounds"], f["rounds"])),
                          f"{max(abs(a - b) for a, b in zip(p['losses'], f['losses'])):.1e}"]
            else:
                cells += ["—", "—", f"{p['peak_mb'] / 1024:.2f}" if p else "—", f"{f['peak_mb'] / 1024:.2f}" if f else "—",
                          "—", "—", "—"]
            rows.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default="tiny,small")
    parser.add_argument("--lengths", default="1k,32k,160k")
    parser.add_argument("--batch", type=int, default=1, help="sequences per step")
    parser.add_argument("--rounds", type=int, default=2, help="alternating plain/fast measurements per row")
    parser.add_argument("--steps", type=int, default=0, help="timed steps per measurement (default 3, 1 beyond 32k)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads per run (1 on a busy shared machine: OpenMP threads waiting for a "
                             "descheduled peer burn CPU time and wall time)")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="autocast dtype (GPU)")
    parser.add_argument("--mem-limit-gb", type=float, default=16.0, help="address-space cap per CPU run")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per CPU run")
    parser.add_argument("--out", help="also write the table (markdown) here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    head = (f"### Training step (forward, backward, AdamW), batch {args.batch}, "
            f"{args.amp or 'fp32'}, {args.device}" + (f", {args.threads} thread(s)" if args.device == "cpu" else "")
            + "\n\n"
            f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, torch {torch.__version__}\n"
            f"- command: python {' '.join(sys.argv)}\n")
    text = head + "\n" + table(args)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    main()
