#!/usr/bin/env python
"""Mutation testing of the core modules with mutmut (configured in pyproject.toml [tool.mutmut]):
plant small bugs one at a time, run the tests that cover them, and print killed / total per module.

    .venv/bin/python scripts/mutation_score.py [--max-children 2] [--only captioner/runtime/search/engine.py ...]
    .venv/bin/python scripts/mutation_score.py --report   # the last run's results, without running
    .venv/bin/python scripts/mutation_score.py --sample 25 [--seed 0] [--modules search vocab]   # 25 per module

Two suites. "fast" (the default) is pyproject.toml's [tool.mutmut]: search, cleaning, vocabulary,
images, scores, object metrics, URL guard, request guards, the service (on a stand-in model), the
feature cache, atomic writes, with their fast tests (about an hour on 2 cores for every mutant).
"slow" (`--suite slow`) is the trainer, whose tests train models (about a minute per mutant): it runs
in its own copy of the repo (mutants-slow/) with SLOW_MODULES/SLOW_TESTS below, and is meant for
`--sample N`, a seeded random sample of N mutants per module (mutant sampling: Wong & Mathur 1995);
the report then counts only the checked mutants.

Tests that start subprocesses (torchrun, `python -m captioner`) see the mutant too: PYTHONPATH puts
mutmut's mutated copy of the package first, and the mutant's name travels in the environment.

A mutant counts as caught when a test fails or times out; "survived" ones are listed with
`mutmut results` and shown with `mutmut show NAME`. The data the tests read is found through
CAPTIONER_DATASET / CAPTIONER_COCO_DEV (set here from ../shared when unset).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOW_MODULES = ["captioner/training/trainer.py"]
SLOW_TESTS = ["tests/training/test_trainer.py", "tests/training/test_integration.py", "tests/training/test_distributed.py"]
SUITE_DIR = ROOT  # where mutmut runs: the repo (fast suite) or its copy (slow suite)


def prepare_slow_suite() -> Path:
    """A copy of the repo whose [tool.mutmut] names the slow modules and their tests (mutants-slow/)."""
    import re
    import shutil

    work = ROOT / "mutants-slow"
    work.mkdir(exist_ok=True)
    for name in ("captioner", "tests", "docs"):
        shutil.copytree(ROOT / name, work / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "README.md", work / "README.md")
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"only_mutate = \[.*?\n\]", "only_mutate = " + repr(SLOW_MODULES).replace("'", '"'), text, flags=re.S)
    text = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\n\]",
                  "pytest_add_cli_args_test_selection = " + repr(SLOW_TESTS).replace("'", '"'), text, flags=re.S)
    (work / "pyproject.toml").write_text(text)
    (work / ".venv").unlink(missing_ok=True)
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work
CAUGHT = {"killed", "timeout", "caught by type check"}
SKIPPED = {"skipped", "not checked", "no tests"}


def mutants() -> list[tuple[str, str, str]]:
    """(module, mutant name, status) of every generated mutant."""
    out = subprocess.run([str(ROOT / ".venv/bin/mutmut"), "results", "--all", "true"], cwd=SUITE_DIR,
                         capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        match = re.match(r"\s*(([\w.]+?)\.x(?:_|ǁ)\S*__mutmut_\d+): (.+)$", line.strip())
        if match:
            found.append((match.group(2), match.group(1), match.group(3).strip()))
    return found


def results() -> dict[str, collections.Counter]:
    per_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for module, _, status in mutants():
        per_module[module][status] += 1
    return per_module


def sample(per_module: int, seed: int, modules: list[str] | None = None) -> list[str]:
    """A seeded random sample of `per_module` mutant names from each module (those named, if given)."""
    by_module: dict[str, list[str]] = collections.defaultdict(list)
    for module, name, _ in mutants():
        if not modules or any(m in module for m in modules):
            by_module[module].append(name)
    rng = random.Random(seed)
    return [name for module in sorted(by_module)
            for name in rng.sample(sorted(by_module[module]), min(per_module, len(by_module[module])))]


def report() -> float:
    per_module = results()
    if not per_module:
        raise SystemExit("no mutmut results: run this script without --report first")
    total_caught = total = 0
    print(f"{'module':<36} {'caught':>7} {'total':>6} {'score':>7}  other")
    for module, counts in sorted(per_module.items()):
        caught = sum(v for k, v in counts.items() if k in CAUGHT)
        counted = sum(v for k, v in counts.items() if k not in SKIPPED)
        total_caught, total = total_caught + caught, total + counted
        other = {k: v for k, v in counts.items() if k not in CAUGHT}
        print(f"{module:<36} {caught:>7} {counted:>6} {caught / max(counted, 1):>7.1%}  {other or ''}")
    print(f"{'all core modules':<36} {total_caught:>7} {total:>6} {total_caught / max(total, 1):>7.1%}")
    uncovered = sum(c.get("no tests", 0) for c in per_module.values())
    if uncovered:
        print(f"('no tests': {uncovered} mutants in code no selected test runs; counted as survivors the score is "
              f"{total_caught / (total + uncovered):.1%})")
    return total_caught / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested in parallel")
    parser.add_argument("--report", action="store_true", help="only print the last run's results")
    parser.add_argument("--sample", type=int, default=0, help="run only a random sample of this many mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="the sample's random seed")
    parser.add_argument("--modules", nargs="+", default=None, help="sample only modules whose name contains one of these")
    parser.add_argument("--suite", choices=["fast", "slow"], default="fast", help="which modules (see above)")
    parser.add_argument("mutants", nargs="*", help="mutant name patterns to run (default: all)")
    args = parser.parse_args()
    global SUITE_DIR
    if args.suite == "slow":
        SUITE_DIR = prepare_slow_suite() if not args.report else ROOT / "mutants-slow"
    mutated = str(SUITE_DIR / "mutants")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (mutated, os.environ.get("PYTHONPATH", "")) if p)
    shared = ROOT.parent / "shared" / "data"
    os.environ.setdefault("CAPTIONER_DATASET", str(shared / "flickr8k"))
    os.environ.setdefault("CAPTIONER_COCO_DEV", str(shared / "coco-dev"))
    if not args.report:
        if args.sample and not mutants():  # generate the mutants (and their test map) first
            subprocess.run([str(ROOT / ".venv/bin/mutmut"), "run", "--max-children", str(args.max_children),
                            "none.such.mutant"], cwd=SUITE_DIR, check=False)
        chosen = sample(args.sample, args.seed, args.modules) if args.sample else args.mutants
        command = [str(ROOT / ".venv/bin/mutmut"), "run", "--max-children", str(args.max_children), *chosen]
        subprocess.run(command, cwd=SUITE_DIR, check=False)
    report()


if __name__ == "__main__":
    sys.exit(main())
