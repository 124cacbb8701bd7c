"""Benchmarks of two commits back to back, and the table of their ratios (before / after a change).

    python scripts/bench_compare.py run --old COMMIT --out DIR [--rounds 2] [--quick] [--run NAME=ARGS ...]
    python scripts/bench_compare.py table DIR            # markdown: figure | before | after | after / before

``run`` checks ``COMMIT`` out into ``DIR/old`` (a git worktree) and runs each benchmark of ``make bench``
(the settings below) in the old tree, then in this tree, alternating, ``--rounds`` times, with the same
interpreter (``PYTHON``, default ``.venv/bin/python``): each tree's own ``scripts/`` and ``hrcam/`` (through
``PYTHONPATH``). Every run's JSON and the load average before and after it go to ``DIR/runs.jsonl``. One job
at a time, on an idle machine: a figure measured at load above 2 is flagged in the table.

``table`` flattens every ratio of the JSON documents (keys with ``ratio``, ``slowdown``, ``vs_full_forward``,
``cpu_ms_per_image`` or ``transposed``), takes the median over rounds and prints after / before, marking a
figure more than 5% worse (for ``slowdown``, ``vs_full_forward``, ``cpu_ms`` and ``transposed`` lower is
better, for the throughput ratios higher is better).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = {  # the reduced settings of the issue-9 comparison (BENCHMARKS.md), one process each
    "models": "bench_models.py --size 64 224 --repeats 5",
    "saliency": "bench_saliency.py --repeats 5",
    "pipeline": "bench_pipeline.py --n 512 --repeats 3",
    "export": "bench_export.py --size 224 --repeats 5 --latency-calls 10",
}
QUICK = {
    "models": "bench_models.py --size 64 --batch 8 --repeats 1",
    "saliency": "bench_saliency.py --models half --batch 8 --repeats 1 --samples 2",
    "pipeline": "bench_pipeline.py --n 32 --repeats 1",
    "export": "bench_export.py --size 64 --batch 8 --repeats 1 --latency-calls 2",
}
LOWER_IS_BETTER = ("slowdown", "vs_full_forward", "cpu_ms", "transposed")


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _run_one(tree: Path, command: str, python: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}
    argv = [python, *command.split()]
    argv[1] = str(tree / "scripts" / argv[1])
    before = _load()
    t0 = time.time()
    proc = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} in {tree} failed:\n{proc.stderr[-3000:]}")
    return {
        "load_before": before,
        "load_after": _load(),
        "seconds": time.time() - t0,
        "json": json.loads(proc.stdout),
    }


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    old = out / "old"
    if not old.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.old], check=True
        )
    python = os.environ.get("PYTHON", str(REPO / ".venv" / "bin" / "python"))
    runs = QUICK if args.quick else RUNS
    if args.run:  # NAME=SCRIPT ARGS..., e.g. a targeted re-run of the figures that came out worse
        runs = dict(item.split("=", 1) for item in args.run)
    with open(out / "runs.jsonl", "a", encoding="utf-8") as log:
        for rnd in range(args.rounds):
            for name, command in runs.items():
                for side, tree in (("before", old), ("after", REPO)):
                    print(f"[round {rnd}] {name} {side} (load {_load():.2f})", file=sys.stderr, flush=True)
                    rec = {
                        "round": rnd,
                        "bench": name,
                        "side": side,
                        "command": command,
                        **_run_one(tree, command, python),
                    }
                    log.write(json.dumps(rec) + "\n")
                    log.flush()


def _flatten(doc, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            label = value.get("name") or value.get("method") if isinstance(value, dict) else None
            out.update(_flatten(value, f"{prefix}/{label or i}"))
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        leaf = prefix.rsplit("/", 1)[-1]
        if any(k in leaf for k in ("ratio", *LOWER_IS_BETTER)) and "target" not in leaf:
            out[prefix] = float(doc)
    return out


def table(args: argparse.Namespace) -> None:
    records = [json.loads(line) for line in (Path(args.dir) / "runs.jsonl").read_text().splitlines() if line]
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    loads: dict[str, list[float]] = {"before": [], "after": []}
    for rec in records:
        loads[rec["side"]] += [rec["load_before"], rec["load_after"]]
        for key, value in _flatten(rec["json"]).items():
            values.setdefault((rec["bench"], key), {"before": [], "after": []})[rec["side"]].append(value)
    print(f"load average: before {min(loads['before']):.2f}-{max(loads['before']):.2f}, "
          f"after {min(loads['after']):.2f}-{max(loads['after']):.2f}; {len(records)} runs\n")  # fmt: skip
    print("| figure | before | after | after / before |")
    print("|---|---|---|---|")
    for (bench, key), sides in sorted(values.items()):
        if not sides["before"] or not sides["after"]:
            continue
        b, a = statistics.median(sides["before"]), statistics.median(sides["after"])
        if b == 0:
            continue
        change = a / b
        lower = any(k in key.rsplit("/", 1)[-1] for k in LOWER_IS_BETTER)
        worse = change > 1.05 if lower else change < 1 / 1.05
        note = " (lower is better)" if lower else ""
        flag = " **worse**" if worse else ""
        print(f"| {bench} {key}{note} | {b:.3g} | {a:.3g} | {change:.3f}{flag} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--old", required=True, help="the commit before the change")
    r.add_argument("--out", required=True)
    r.add_argument("--rounds", type=int, default=1)
    r.add_argument("--quick", action="store_true", help="make bench's quick settings (a smoke run)")
    r.add_argument(
        "--run",
        action="append",
        metavar="NAME=SCRIPT ARGS",
        help="instead of the default set, e.g. 'saliency=bench_saliency.py --models half --methods CAM'",
    )
    t = sub.add_parser("table")
    t.add_argument("dir")
    args = parser.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
