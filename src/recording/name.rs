//! Recording names: the only user text that becomes a path, so it is checked before any
//! file is touched.

use super::error::RecordingError;

/// Longest accepted recording name.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Checks that `name` is 1–[`MAX_NAME_LEN`] characters of `[A-Za-z0-9._-]` and not `.`
/// or `..`, so that joined to the root it names a folder directly inside the root.
pub(crate) fn validate_name(name: &str) -> Result<(), RecordingError> {
    let bad = |reason: &str| {
        Err(RecordingError::InvalidName {
            name: shorten(name),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 128 characters");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are not names");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!(
            "{c:?} is not allowed (only A-Z, a-z, 0-9, `.`, `_`, `-`)"
        ));
    }
    Ok(())
}

/// Caps a name copied into an error message.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for name in [
            "a",
            "run-1",
            "2026.11.22_robot",
            "...",
            ".hidden",
            &"x".repeat(128),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_names_that_could_escape_or_are_empty() {
        for name in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\\b",
            "a b",
            "é",
            "a\0b",
            &"x".repeat(129),
        ] {
            let err = validate_name(name).expect_err(name);
            assert!(err.to_string().contains("recording name"), "{err}");
        }
    }
}
