//! A progress bar for `storagectl upload`, on stderr, only when stderr is a terminal and
//! the output is not JSON: scripts and tests reading the output see nothing of it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use storage::recording::upload::UploadProgress;

/// The bar of one recording's upload, drawn from its first chunk on; or nothing.
pub struct UploadBar {
    name: String,
    bar: Option<ProgressBar>,
    shown: bool,
}

impl UploadBar {
    /// A bar for recording `name`, shown when stderr is a terminal and not `json`.
    pub fn new(name: &str, json: bool) -> Self {
        Self {
            name: name.to_owned(),
            bar: None,
            shown: !json && std::io::stderr().is_terminal(),
        }
    }

    /// Moves the bar to where the upload stands.
    pub fn update(&mut self, p: UploadProgress) {
        if !self.shown {
            return;
        }
        let name = &self.name;
        let bar = self.bar.get_or_insert_with(|| {
            // The template is fixed and valid; the default style is the fallback anyway.
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            )
            .map_or_else(
                |_| ProgressStyle::default_bar(),
                |s| s.progress_chars("=> "),
            );
            ProgressBar::with_draw_target(Some(p.bytes_total), ProgressDrawTarget::stderr())
                .with_style(style)
                .with_prefix(name.clone())
        });
        // The message first, then length and position in one update: one frame shows
        // all three up to date.
        bar.set_message(format!(
            "chunks {}/{}, {} bytes sent",
            p.chunks_done, p.chunks_total, p.bytes_sent
        ));
        bar.update(|state| {
            state.set_len(p.bytes_total);
            state.set_pos(p.bytes_done);
        });
    }

    /// Takes the bar off the terminal before the recording's report is printed.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
