//! The nim-sds fixtures in `../shared/fixtures/nim-sds/`, and their JSON fields, read with
//! a panic that names the field when the file does not hold what the test expects.

use serde_json::Value;

/// The parsed fixture `fixtures/nim-sds/<name>`, or `None` (after saying the test is
/// skipped, and why) when the fixtures are not beside the project, as in a user's clone.
pub fn nim_fixture(name: &str) -> Option<Value> {
    let path = format!(
        "{}/../shared/fixtures/nim-sds/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("fixture is valid JSON")),
        Err(e) => {
            println!("skipped: fixture {path} is not readable ({e})");
            None
        }
    }
}

/// The string `v[key]`.
#[allow(dead_code)] // not every test binary including this module reads every kind of field
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture field {key} is a string"))
}

/// The bytes written in hex as the string `v[key]`.
#[allow(dead_code)]
pub fn hex_of(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(str_of(v, key)).unwrap_or_else(|e| panic!("fixture field {key}: {e}"))
}

/// The integer `v[key]`.
#[allow(dead_code)]
pub fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("fixture field {key} is an integer"))
}

/// The number `v[key]`.
#[allow(dead_code)]
pub fn f64_of(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("fixture field {key} is a number"))
}

/// The array `v[key]`.
#[allow(dead_code)]
pub fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("fixture field {key} is an array"))
}
