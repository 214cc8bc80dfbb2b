//! One version for every artefact: Cargo.toml's, which `storage_version()`, the header's
//! `STORAGE_VERSION`, the Python package and (through the Makefile) the pkg-config file
//! and the CMake package all carry. The licence files the manifests name exist.

use std::ffi::CStr;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{root}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_library_reports_the_crate_version() {
    // SAFETY: storage_version returns a static NUL-terminated string.
    let reported = unsafe { CStr::from_ptr(storage::ffi::storage_version()) };
    assert_eq!(reported.to_str(), Ok(VERSION));
}

#[test]
fn the_header_carries_the_crate_version() {
    let header = read("include/storage.h");
    assert!(header.contains(&format!("#define STORAGE_VERSION \"{VERSION}\"")));
}

#[test]
fn the_python_package_carries_the_crate_version() {
    let init = read("bindings/python/libstorage_sds/__init__.py");
    assert!(init.contains(&format!("__version__ = \"{VERSION}\"")));
}

#[test]
fn the_licence_files_exist_and_the_changelog_is_kept() {
    assert!(read("LICENSE-MIT").contains("Permission is hereby granted"));
    assert!(read("LICENSE-APACHE").contains("Apache License"));
    assert!(read("CHANGELOG.md").contains("## Unreleased"));
}
