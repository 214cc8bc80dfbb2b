//! Shared by the integration tests: reading nim-sds fixtures from `../shared/fixtures/`.

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
