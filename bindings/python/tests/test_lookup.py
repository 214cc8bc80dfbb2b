"""Where the package looks for libstorage.so: a copy of the package outside the source
tree (as pip installs it, without the wheel's bundled library) run in a child process with
the environment each case sets up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import libstorage_sds as storage
from libstorage_sds import _lib

PACKAGE = Path(storage.__file__).resolve().parent
LOADED = "import libstorage_sds._lib as l; print(l.lib._name)"


def run_outside_tree(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Imports a copy of the package from tmp_path with only the given variables (and
    PATH) set, and reports the library it loaded."""
    site = tmp_path / "site"
    if not site.exists():
        shutil.copytree(PACKAGE, site / "libstorage_sds", ignore=shutil.ignore_patterns("*.so*"))
    child_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site), **env}
    return subprocess.run(
        [sys.executable, "-c", LOADED],
        env=child_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def the_tree_library() -> Path:
    return Path(_lib.lib._name).resolve()


def test_a_failed_lookup_lists_every_place_tried(tmp_path: Path) -> None:
    empty = tmp_path / "no-pc"
    empty.mkdir()
    done = run_outside_tree(tmp_path, PKG_CONFIG_PATH=str(empty), PKG_CONFIG_LIBDIR=str(empty))
    assert done.returncode != 0
    message = done.stderr
    assert "libstorage.so not found; tried, in order:" in message
    assert "STORAGE_LIB: not set" in message
    assert str(tmp_path / "site" / "libstorage_sds" / "libstorage.so") in message
    assert "pkg-config storage:" in message
    assert "ldconfig and LD_LIBRARY_PATH: no libstorage" in message
    # Outside a checkout no build folder of a source tree is a candidate.
    assert "target/release" not in message


def test_an_explicit_path_that_names_no_file_is_an_error(tmp_path: Path) -> None:
    done = run_outside_tree(tmp_path, STORAGE_LIB=str(tmp_path / "missing.so"))
    assert done.returncode != 0
    assert f"STORAGE_LIB={tmp_path / 'missing.so'}: no such file" in done.stderr


def test_the_explicit_path_comes_first(tmp_path: Path) -> None:
    done = run_outside_tree(tmp_path, STORAGE_LIB=str(the_tree_library()))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == the_tree_library()


def test_the_bundled_copy_is_found_next_to_the_package(tmp_path: Path) -> None:
    run_outside_tree(tmp_path, STORAGE_LIB=str(the_tree_library()))  # lays out the copy
    bundled = tmp_path / "site" / "libstorage_sds" / "libstorage.so"
    shutil.copy(the_tree_library(), bundled)
    done = run_outside_tree(tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == bundled


def test_an_installed_library_is_found_through_pkg_config(tmp_path: Path) -> None:
    libdir = tmp_path / "prefix" / "lib"
    (libdir / "pkgconfig").mkdir(parents=True)
    shutil.copy(the_tree_library(), libdir / _lib.SONAME)
    (libdir / "pkgconfig" / "storage.pc").write_text(
        f"libdir={libdir}\nName: storage\nDescription: test\nVersion: 0\nLibs: -lstorage\n"
    )
    done = run_outside_tree(tmp_path, PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == libdir / _lib.SONAME
