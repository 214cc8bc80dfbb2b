//! Protocol managers as tests and benches make them.

use storage::protocol::{Manager, ProtocolConfig};

/// The time (Unix ms) tests and benches start at.
#[allow(dead_code)] // not every test binary including this module uses every item
pub const T0: u64 = 1_700_000_000_000;

/// The default configuration, for `participant`.
pub fn config(participant: &str) -> ProtocolConfig {
    ProtocolConfig {
        participant_id: participant.into(),
        ..ProtocolConfig::default()
    }
}

/// A manager for `participant` at the default configuration.
#[allow(dead_code)]
pub fn manager(participant: &str) -> Manager {
    manager_with(participant, |_| {})
}

/// A manager for `participant` at the default configuration changed by `tweak`.
pub fn manager_with(participant: &str, tweak: impl FnOnce(&mut ProtocolConfig)) -> Manager {
    let mut config = config(participant);
    tweak(&mut config);
    Manager::new(config).expect("valid config")
}
