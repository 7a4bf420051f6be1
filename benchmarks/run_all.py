"""Run every benchmark and write benchmarks/results/<host>.md with the hardware named.

    python benchmarks/run_all.py            # what `make bench` runs
    python benchmarks/run_all.py --quick    # 1k and 16k only (minutes instead of tens of minutes)
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [f"- CPU: {cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM",
             f"- Python {platform.python_version()}, torch {torch.__version__}"]
    if torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name()} "
                     f"({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GB)")
    return "\n".join(lines)


def run(script: str, *args: str) -> str:
    out = HERE / "results" / f".{Path(script).stem}.md"
    subprocess.run([sys.executable, str(HERE / script), *args, "--out", str(out)], check=True)
    text = out.read_text()
    out.unlink()
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only L = 1k and 16k")
    parser.add_argument("--out", help="results file (default: benchmarks/results/<host>.md)")
    args = parser.parse_args()
    lengths = "1k,16k" if args.quick else "1k,16k,128k,1M"
    sections = [f"# Benchmarks on {socket.gethostname()}\n", hardware(), "\n## Backbone: plain vs fast path\n",
                run("bench_model.py", "--lengths", lengths)]
    if torch.cuda.is_available():
        sections += ["\n## Backbone on the GPU\n", run("bench_model.py", "--device", "cuda", "--lengths", lengths),
                     "\n## Long convolution alone\n", run("bench_long_conv.py")]
    tokenizer = subprocess.run([sys.executable, str(HERE / "bench_tokenizer.py")], capture_output=True, text=True,
                               check=True).stdout
    sections += ["\n## Tokenizer\n", tokenizer]
    target = Path(args.out) if args.out else HERE / "results" / f"{socket.gethostname()}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(sections) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
