//! Caller- and peer-provided text echoed into error messages is capped, so that a 10 MB
//! path or key never turns into a 10 MB message (or several).

use std::borrow::Cow;
use std::path::Path;

/// Characters of an echoed value kept before the cut.
const MAX_CHARS: usize = 64;

/// Characters of a whole problem description (which may quote values) kept.
const MAX_MESSAGE_CHARS: usize = 512;

/// `text` cut after `max` characters, marked by `…` when cut.
fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// An echoed value (a key, a name), cut after [`MAX_CHARS`] characters.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    cut(text, MAX_CHARS)
}

/// A problem description from below (an OS or SQLite error, which may quote a path),
/// cut after [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn shorten_message(text: &str) -> Cow<'_, str> {
    cut(text, MAX_MESSAGE_CHARS)
}

/// A path for an error message: its end is kept (the file name says most), cut before
/// [`MAX_CHARS`] characters from the end, marked by `…` when cut.
pub(crate) fn shorten_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let count = text.chars().count();
    if count <= MAX_CHARS {
        return text.into_owned();
    }
    let start = text
        .char_indices()
        .nth(count - MAX_CHARS)
        .map_or(0, |(i, _)| i);
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_cut() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), MAX_CHARS + 1);
        let path = format!("/var/{}/state.db", "x".repeat(10_000));
        let shown = shorten_path(Path::new(&path));
        assert!(shown.starts_with('…') && shown.ends_with("/state.db"));
        assert_eq!(shown.chars().count(), MAX_CHARS + 1);
        assert_eq!(shorten_path(Path::new("/a/b.db")), "/a/b.db");
        assert_eq!(shorten_message(&"m".repeat(10_000)).chars().count(), 513);
    }
}
