"""Every function include/storage.h declares is declared in the binding, with as many
arguments as the header gives it."""

from __future__ import annotations

import re
from pathlib import Path

from libstorage_sds import _lib

HEADER = Path(__file__).resolve().parents[3] / "include" / "storage.h"

# A declaration: a return type, the name, and its parameter list up to ");".
DECLARATION = re.compile(r"^[A-Za-z_][\w \*]*?\b(storage_\w+)\(([^)]*)\);", re.MULTILINE)


def header_functions() -> dict[str, int]:
    """Name -> number of parameters of each function in the header."""
    text = HEADER.read_text()
    functions = {}
    for name, params in DECLARATION.findall(text):
        params = " ".join(params.split())
        functions[name] = 0 if params in ("", "void") else params.count(",") + 1
    return functions


def test_the_header_is_parsed() -> None:
    functions = header_functions()
    assert "storage_new" in functions and functions["storage_new"] == 4
    assert "storage_callback" not in functions  # a typedef, not a function
    assert len(functions) >= 17


def test_every_header_function_is_declared_in_the_binding() -> None:
    functions = header_functions()
    assert set(functions) == set(_lib.FUNCTIONS), "binding and header disagree"
    for name, count in functions.items():
        argtypes, _restype = _lib.FUNCTIONS[name]
        assert len(argtypes) == count, f"{name}: {len(argtypes)} argtypes, header has {count}"
        function = getattr(_lib.lib, name)
        assert function.argtypes == argtypes, f"{name}: argtypes not applied"
