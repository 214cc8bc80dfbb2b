//! Gives the shared library its soname, so installs can version it (libstorage.so.0).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libstorage.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
