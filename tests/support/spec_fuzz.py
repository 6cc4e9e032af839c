"""A seeded spec fuzzer, and a driver that runs CLI cases under a memory and time bound.

`mutants` breaks the shipped specs (specs/, examples/) the ways a typo, a bad merge or a
copied snippet does: syntax breaks, retyped and deleted keys, deep nesting, aliases and
hostile templates. `run_cases` runs CLI commands on spec files in a child process whose
address space is capped (RLIMIT_AS) and each case under a CPU-time limit, and says how each ended.

Run as `python -m tests.support.spec_fuzz` it is that child: cases as JSON on stdin,
results on stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from tests.paths import REPO

REPO = REPO
SEEDS = sorted((REPO / "specs").glob("*.yaml")) + sorted((REPO / "examples").glob("*.yaml"))
#: What the shipped specs need from the environment to load.
ENV = {
    "PGPASSWORD": "example-password",
    "PROXYWHIRL_CACHE_ENCRYPTION_KEY": "7-x3cVUZxP4qXpS9T6QYZk0mkyBq6D9dqvJCdYrQDqY=",
    "EXPORTCTL_HASH_KEY": "fuzz-hash-key",
}
MEMORY_BYTES = 1536 * 2**20
#: A child's answer for a case that ran out of memory after others: run it in a fresh one.
FRESH = "again in a fresh child"
SECONDS_PER_CASE = 10

HOSTILE_TEMPLATES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum }}",
    "{{ self }}",
    "{{ namespace(a=1) }}",
    "{{ spec|attr('name') }}",
    "{{ '{0}'.format(spec) }}",
    "{{ range(10**9) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ 10 ** (10 ** 8) }}",
    "{{ 'x' * 1000000 ~ 'x' * 1000000 }}",
    "out\x00.csv",
    "{{ " + "[" * 60 + "1" + "]" * 60 + " }}",
    "{% macro m() %}{% endmacro %}out.csv",
    "{{ now.strftime('%Y') }}/{{ spec.name }}.csv",
]
ODD_VALUES: list[Any] = [
    None, 0, -1, 2**70, 1e308, "", "x" * 5000, [], {}, True, 1.5, "{{ nope }}", "${NOPE}",
    [[1]], {"type": "nope"}, "-1 day", "99999999999 days", "\x00", "a: b", ["a", 1, None],
]  # fmt: skip
SYNTAX_CHARS = ":[]{}&*!|>'\"#%@`\t- \n?,"


def key_paths(document: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a document, the root's excepted."""
    found = [at] if at else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += key_paths(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += key_paths(value, (*at, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for part in path[:-1]:
        document = document[part]
    if delete:
        del document[path[-1]]
    else:
        document[path[-1]] = value


def _deep(rng: random.Random) -> str:
    depth = rng.choice([70, 500, 2000])
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return "{a: " * depth + "1" + "}" * depth


def _aliases(rng: random.Random) -> str:
    kind = rng.choice(["bomb", "cycle", "chain", "merge"])
    if kind == "bomb":
        lines = ["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 9)]
        return "\n".join(lines) + "\n"
    if kind == "cycle":
        return "x: &x [*x]\n"
    if kind == "chain":
        return "c0: &c0 [1]\n" + "".join(f"c{i}: &c{i} [*c{i - 1}]\n" for i in range(1, 120))
    return "m0: &m0 {a: 1}\n" + "".join(f"m{i}: &m{i} {{<<: *m{i - 1}}}\n" for i in range(1, 120))


def mutate(text: str, rng: random.Random) -> tuple[str, str]:
    """One mutant of a spec's text, and the kind of change."""
    kind = rng.choice(["syntax", "line", "retype", "delete", "deep", "alias", "template"])
    if kind == "syntax":
        at = rng.randrange(len(text))
        cut = rng.choice([0, 1])
        return text[:at] + rng.choice(SYNTAX_CHARS) + text[at + cut :], kind
    if kind == "line":
        lines = text.splitlines()
        i = rng.randrange(len(lines))
        action = rng.choice(["dup", "drop", "indent", "dedent"])
        if action == "dup":
            lines.insert(i, lines[i])
        elif action == "drop":
            del lines[i]
        else:
            lines[i] = "  " + lines[i] if action == "indent" else lines[i].lstrip()
        return "\n".join(lines) + "\n", kind
    if kind == "alias":
        return _aliases(rng) + text, kind
    document = yaml.safe_load(text)
    paths = key_paths(document)
    path = rng.choice(paths)
    if kind == "delete":
        _set(document, path, None, delete=True)
        return yaml.safe_dump(document, sort_keys=False), kind
    if kind == "retype":
        _set(document, path, rng.choice(ODD_VALUES))
        return yaml.safe_dump(document, sort_keys=False), kind
    if kind == "deep":
        _set(document, path, "DEEP_PLACEHOLDER")
        return yaml.safe_dump(document, sort_keys=False).replace(
            "DEEP_PLACEHOLDER", _deep(rng)
        ), kind
    strings = [p for p in paths if isinstance(_get(document, p), str)] + [("destination",)]
    _set(document, rng.choice(strings), rng.choice(HOSTILE_TEMPLATES))
    return yaml.safe_dump(document, sort_keys=False), kind


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def mutants(seed: int, count: int) -> list[dict[str, Any]]:
    """`count` mutants of the shipped specs, the same for the same seed."""
    rng = random.Random(seed)
    found = []
    for number in range(count):
        source = rng.choice(SEEDS)
        text, kind = mutate(source.read_text(encoding="utf-8"), rng)
        name = f"{number:04d}-{kind}-{source.stem}"
        found.append({"id": name, "files": {f"specs/{source.name}": text}, "spec": source.name})
    return found


def fuzz_cases(seed: int, count: int, apply_every: int = 10) -> list[dict[str, Any]]:
    """`validate` and `plan` of each mutant; `apply` of every `apply_every`-th local one."""
    cases = []
    for number, mutant in enumerate(mutants(seed, count)):
        spec = "{dir}/specs/" + mutant["spec"]
        commands = {"validate": ["validate", spec], "plan": ["plan", "--no-count", spec]}
        text = next(iter(mutant["files"].values()))
        if number % apply_every == 0 and "://" not in text.replace("sqlite:///", ""):
            commands["apply"] = ["apply", "--state", "sqlite:///{dir}/state.db", spec]
        for command, args in commands.items():
            cases.append({**mutant, "id": f"{mutant['id']}-{command}", "args": args})
    return cases


# --- the child process -------------------------------------------------------------------


class _Timeout(BaseException):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Timeout


def _run_one(case: dict[str, Any], root: Path) -> dict[str, Any]:
    from exportctl.cli import main as cli
    from exportctl.errors import ExportctlError

    for name, text in case.get("files", {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for link, target in case.get("symlinks", {}).items():
        (root / link).symlink_to(root / target)
    args = [arg.replace("{dir}", str(root)) for arg in case["args"]]
    out = io.StringIO()
    started = time.process_time()  # CPU time: a loaded machine must not fail a case
    code: Any
    signal.setitimer(signal.ITIMER_PROF, SECONDS_PER_CASE)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                cli.main(args=args, standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except ExportctlError as exc:  # as the console entry point reports them
                print(f"exportctl: {exc}")
                code = exc.exit_code
            except _Timeout:
                code = "timeout"
            except BaseException:  # noqa: BLE001 - the fuzzer's finding
                traceback.print_exc()
                code = "traceback"
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    return {"id": case["id"], "code": code, "output": out.getvalue()[-3000:],
            "seconds": round(time.process_time() - started, 3)}  # fmt: skip


def _child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    signal.signal(signal.SIGPROF, _alarm)
    os.environ.update(ENV)
    cases = json.load(sys.stdin)
    demo = cases[0].get("demo") if cases else None
    home = os.getcwd()
    for ran, case in enumerate(cases):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            if demo:
                os.symlink(demo, root / "demo")
            os.chdir(root)
            try:
                result = _run_one(case, root)
            except MemoryError:
                result = {"id": case["id"], "code": "MemoryError", "output": "", "seconds": 0}
            finally:
                os.chdir(home)
            if ran and _out_of_memory(result):
                # The cap is on this process, which earlier cases grew (the native thread
                # pools pyarrow and others keep, each with its malloc arena): the case is
                # judged again in a fresh child, where its own memory alone counts.
                print(json.dumps({"id": case["id"], "code": FRESH}), flush=True)
                return
            print(json.dumps(result), flush=True)


def _out_of_memory(result: dict[str, Any]) -> bool:
    return result["code"] == "MemoryError" or "MemoryError" in result["output"]


def run_cases(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each case's result by id, run in memory-capped child processes.

    The CPU-time alarm cannot stop a long C call (`10**10**8`): a child silent for 12 times
    the case limit is killed, that case recorded as a hang, and a new child runs the rest.
    """
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(cases):
        results |= _run_child(cases[len(results) :])
        if results and list(results.values())[-1]["code"] == FRESH:
            del results[list(results)[-1]]  # ran out of memory after other cases: again
            continue
        if len(results) < len(cases):  # the child hung or died on this case
            stuck = cases[len(results)]["id"]
            results[stuck] = {"id": stuck, "code": "hang", "output": "", "seconds": 99.0}
    return results


def _run_child(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("FUZZ_PYTHONPATH", str(REPO))}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.spec_fuzz"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(cases))
    child.stdin.close()
    results: dict[str, dict[str, Any]] = {}
    try:
        while len(results) < len(cases):
            ready, _, _ = select.select([child.stdout], [], [], 12 * SECONDS_PER_CASE)
            line = child.stdout.readline() if ready else ""
            if not line:
                break
            result = json.loads(line)
            results[result["id"]] = result
    finally:
        child.kill()
        child.wait()
    return results


def crashed(result: dict[str, Any], allowed: tuple[int, ...] = (0, 2)) -> bool:
    """A traceback, a hang, an internal error, or an exit code outside `allowed`."""
    text = result["output"]
    return (
        result["code"] not in allowed
        or "Traceback" in text
        or "internal error" in text
        or result["seconds"] > SECONDS_PER_CASE / 2
    )


if __name__ == "__main__":
    _child()
