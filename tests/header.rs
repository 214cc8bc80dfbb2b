//! The committed C header is what cbindgen generates from the code: this test fails when
//! they drift. `make header` (UPDATE_HEADER=1) rewrites it.

#[test]
fn committed_header_matches_the_code() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut config =
        cbindgen::Config::from_file(format!("{root}/cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros());
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("the header generates")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = format!("{root}/include/storage.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("header written");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/storage.h is out of date: run `make header` and commit it"
    );
}

/// The version macros of the header, from Cargo.toml's version: the header agrees with
/// `storage_version()` and every other artefact (tests/version.rs).
fn version_macros() -> String {
    format!(
        "\n/** The version of this header: compare with storage_version() at run time. */\n\
         #define STORAGE_VERSION \"{}\"\n\
         #define STORAGE_VERSION_MAJOR {}\n\
         #define STORAGE_VERSION_MINOR {}\n\
         #define STORAGE_VERSION_PATCH {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    )
}
