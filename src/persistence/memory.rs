//! In-memory backend, shareable between managers (to simulate a restart) and with
//! per-call fault injection for failure-policy tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;

use super::contract::{HistoryBatch, Persistence, PersistenceError, StoredChannel};

/// A backend call, for fault injection and call counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `save_channel_meta`
    SaveMeta,
    /// `update_history`
    UpdateHistory,
    /// `load_channel`
    Load,
    /// `drop_channel`
    Drop,
    /// `set_retrieval_hint`
    SetHint,
}

#[derive(Debug, Default)]
struct ChannelRows {
    meta: Option<Vec<u8>>,
    history: IndexMap<String, Vec<u8>>,
    hints: HashMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct State {
    channels: BTreeMap<String, ChannelRows>,
    failures_left: HashMap<Call, u32>,
    calls: HashMap<Call, u64>,
}

/// An in-memory store. Clones share the same data.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters to a test store, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the next `times` calls of `call` fail.
    pub fn fail_next(&self, call: Call, times: u32) {
        self.lock().failures_left.insert(call, times);
    }

    /// How many times `call` was made (failed calls included).
    pub fn calls(&self, call: Call) -> u64 {
        self.lock().calls.get(&call).copied().unwrap_or(0)
    }

    /// Ids of the stored history rows of a channel, in append order.
    pub fn history_ids(&self, channel_id: &str) -> Vec<String> {
        self.lock()
            .channels
            .get(channel_id)
            .map(|c| c.history.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The stored meta bytes of a channel.
    pub fn meta(&self, channel_id: &str) -> Option<Vec<u8>> {
        self.lock()
            .channels
            .get(channel_id)
            .and_then(|c| c.meta.clone())
    }

    /// The stored retrieval hint of a message.
    pub fn hint(&self, channel_id: &str, message_id: &str) -> Option<Vec<u8>> {
        self.lock()
            .channels
            .get(channel_id)
            .and_then(|c| c.hints.get(message_id).cloned())
    }

    /// Total bytes stored (meta, history rows and hints), to measure write volume.
    pub fn stored_bytes(&self) -> usize {
        self.lock()
            .channels
            .values()
            .map(|c| {
                c.meta.as_ref().map_or(0, Vec::len)
                    + c.history.values().map(Vec::len).sum::<usize>()
                    + c.hints.values().map(Vec::len).sum::<usize>()
            })
            .sum()
    }

    /// Counts the call and fails it if a failure was injected.
    fn enter(state: &mut State, call: Call) -> Result<(), PersistenceError> {
        *state.calls.entry(call).or_default() += 1;
        match state.failures_left.get_mut(&call) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(PersistenceError::new(format!("injected {call:?} failure")))
            }
            _ => Ok(()),
        }
    }
}

impl Persistence for MemoryStore {
    fn save_channel_meta(&mut self, channel_id: &str, meta: &[u8]) -> Result<(), PersistenceError> {
        let mut state = self.lock();
        Self::enter(&mut state, Call::SaveMeta)?;
        state
            .channels
            .entry(channel_id.to_owned())
            .or_default()
            .meta = Some(meta.to_vec());
        Ok(())
    }

    fn update_history(
        &mut self,
        channel_id: &str,
        batch: &HistoryBatch,
    ) -> Result<(), PersistenceError> {
        let mut state = self.lock();
        Self::enter(&mut state, Call::UpdateHistory)?;
        let rows = state.channels.entry(channel_id.to_owned()).or_default();
        for row in &batch.append {
            rows.history.shift_remove(&row.message_id);
            rows.history
                .insert(row.message_id.clone(), row.bytes.clone());
        }
        for id in &batch.evict {
            rows.history.shift_remove(id);
            rows.hints.remove(id);
        }
        Ok(())
    }

    fn load_channel(
        &mut self,
        channel_id: &str,
    ) -> Result<Option<StoredChannel>, PersistenceError> {
        let mut state = self.lock();
        Self::enter(&mut state, Call::Load)?;
        Ok(state.channels.get(channel_id).map(|rows| StoredChannel {
            meta: rows.meta.clone(),
            history: rows.history.values().cloned().collect(),
        }))
    }

    fn drop_channel(&mut self, channel_id: &str) -> Result<(), PersistenceError> {
        let mut state = self.lock();
        Self::enter(&mut state, Call::Drop)?;
        state.channels.remove(channel_id);
        Ok(())
    }

    fn set_retrieval_hint(
        &mut self,
        channel_id: &str,
        message_id: &str,
        hint: &[u8],
    ) -> Result<(), PersistenceError> {
        let mut state = self.lock();
        Self::enter(&mut state, Call::SetHint)?;
        state
            .channels
            .entry(channel_id.to_owned())
            .or_default()
            .hints
            .insert(message_id.to_owned(), hint.to_vec());
        Ok(())
    }
}
