"""Every fenced code block of README.md is compiled and run as a user would paste it.

Unmarked blocks are complete programs: C (built with the tree's header and library, run),
Go (a module of its own using the binding through a replace directive, run), Python
(run with the binding on PYTHONPATH). Rust blocks run as doctests (`cargo test --doc`,
through `ReadmeDoctests` in src/lib.rs), which this script checks is in place. A block
preceded by `<!-- readme-test: MODE -->` is a fragment: `c-fragment` is compiled inside
a function that has `ctx`, `cb`, `ud` and `replay_id`; `json-fragment` is parsed inside
`{}`; `skip (why)` is not run. Any other block fails the test, so none goes unchecked.

Usage: check.py README [WORK_DIR]; environment: CC, STORAGE_LIB (the tree's
libstorage.so), PKG_CONFIG_PATH (a storage.pc for the tree), GO, PYTHON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"<!-- readme-test: ([\w-]+)[^>]*-->\s*$")
C_FRAGMENT = """#include <storage.h>
static void cb(storage_status st, const uint8_t *data, size_t len, void *ud) {
    (void)st; (void)data; (void)len; (void)ud;
}
void readme_fragment(storage_ctx *ctx, void *ud, uint64_t replay_id);
void readme_fragment(storage_ctx *ctx, void *ud, uint64_t replay_id) {
    (void)replay_id; /* not every fragment stops a replay */
%s
}
"""


def blocks(readme: str) -> list[tuple[int, str, str, str]]:
    """(line, language, mode, code) of every fenced block; mode from the marker above."""
    found = []
    for match in FENCE.finditer(readme):
        before = readme[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = MARK.search(before)
        line = readme.count("\n", 0, match.start()) + 1
        found.append((line, match.group(1), marked.group(1) if marked else "", match.group(2)))
    return found


def run(command: list[str], cwd: Path, **env: str) -> None:
    done = subprocess.run(command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    if done.stdout.strip():
        print("   ", done.stdout.strip().replace("\n", "\n    "))


def check_c(code: str, work: Path) -> None:
    source = work / "snippet.c"
    source.write_text(code)
    lib = Path(os.environ["STORAGE_LIB"]).parent
    cc = os.environ.get("CC", "cc")
    run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{TREE / 'include'}", str(source),
         "-o", str(work / "snippet"), f"-L{lib}", "-lstorage", f"-Wl,-rpath,{lib}", "-pthread"], work)
    run([str(work / "snippet")], work)


def check_c_fragment(code: str, work: Path) -> None:
    source = work / "fragment.c"
    source.write_text(C_FRAGMENT % code)
    cc = os.environ.get("CC", "cc")
    run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{TREE / 'include'}", "-c",
         str(source), "-o", str(work / "fragment.o")], work)


def check_go(code: str, work: Path) -> None:
    module = work / "goapp"
    module.mkdir()
    (module / "main.go").write_text(code)
    (module / "go.mod").write_text(
        "module example.com/readme\n\ngo 1.22\n\n"
        "require github.com/libstorage/libstorage/bindings/go v0.0.0\n\n"
        f"replace github.com/libstorage/libstorage/bindings/go => {TREE / 'bindings' / 'go'}\n"
    )
    go = os.environ.get("GO", "go")
    run([go, "build", "-o", "readme", "."], module, GOFLAGS="-mod=mod")
    run([str(module / "readme")], module)


def check_python(code: str, work: Path) -> None:
    (work / "snippet.py").write_text(code)
    python = os.environ.get("PYTHON", sys.executable)
    run([python, "snippet.py"], work, PYTHONPATH=str(TREE / "bindings" / "python"))


def check_rust_is_doctested() -> None:
    lib = (TREE / "src" / "lib.rs").read_text()
    if 'include_str!("../README.md")' not in lib:
        raise AssertionError("src/lib.rs does not run the README's Rust blocks as doctests")


CHECKS = {
    ("c", ""): check_c,
    ("c", "c-fragment"): check_c_fragment,
    ("go", ""): check_go,
    ("python", ""): check_python,
    ("json", "json-fragment"): lambda code, _: json.loads("{" + code + "}"),
    ("rust", ""): lambda _code, _work: check_rust_is_doctested(),
}


def main() -> int:
    readme = Path(sys.argv[1])
    failed = 0
    found = blocks(readme.read_text())
    for line, language, mode, code in found:
        print(f"== {readme.name}:{line} {language} {mode}".rstrip())
        if mode == "skip":
            continue
        check = CHECKS.get((language, mode))
        try:
            if check is None:
                raise AssertionError(f"no check for a `{language}` block marked `{mode}`")
            with tempfile.TemporaryDirectory(prefix="storage-readme-") as work:
                check(code, Path(work))
        except (AssertionError, ValueError) as error:
            print(f"error: {readme.name}:{line}: {error}")
            failed += 1
    print(f"{len(found)} blocks, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
