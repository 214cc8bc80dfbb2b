//! [`PersistentManager`]: the protocol manager plus a backend, applying the persistence
//! contract of DESIGN.md around every operation.
//!
//! - `load_channel` on a channel's first use in this process (any operation, and the
//!   stats read); a failure fails the op.
//! - After every op that changed a channel: `save_channel_meta` with the complete meta,
//!   then `update_history` with the pending history changes, as one `save_op`. A backend
//!   that stores buffer entries as rows (`stores_meta_rows`, SQLite) gets `save_op_rows`
//!   instead: the header and only the rows of the entries the op touched, taken from the
//!   protocol's change journal; touched entries not yet accepted stay queued, merged,
//!   like history. A failed
//!   meta save is logged and the op still succeeds (memory is authoritative and the next
//!   save is complete); a failed history batch stays queued, merged latest-op-wins, and is
//!   retried with the next op.
//! - `drop_channel` on remove and reset; a failure fails the op.
//! - `set_retrieval_hint` when a hint becomes known; failures are logged.
//!
//! Group commit: between [`PersistentManager::begin_group`] and
//! [`PersistentManager::commit_group`] saves are deferred; the commit writes each touched
//! channel once (its latest meta and the merged history changes) in one backend
//! transaction. History changes leave the retry queue only once that commit succeeded.

use std::collections::HashMap;

use indexmap::IndexSet;

use thiserror::Error;

use super::codec::{self, SnapshotError};
use super::contract::{MetaRow, MetaRows, Persistence, PersistenceError, RowWrite};
use super::pending::{PendingHistory, PendingMeta};
use crate::protocol::channel::HistoryChange;
use crate::protocol::error::ProtocolError;
use crate::protocol::event::Event;
use crate::protocol::journal::BufferKind;
use crate::protocol::manager::{ChannelStats, Manager, Unwrapped};
use crate::protocol::snapshot::ChannelData;
use crate::protocol::wire::decode_stored_message;

/// Why an operation of a [`PersistentManager`] failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The protocol refused the operation.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A load or drop failed in the backend.
    #[error("persistence error: {0}")]
    Persistence(#[from] PersistenceError),
    /// Stored state of a channel could not be decoded.
    #[error("stored state of channel `{channel_id}` is unreadable: {source}")]
    CorruptState {
        /// The channel.
        channel_id: String,
        /// What is wrong with it.
        source: SnapshotError,
    },
}

/// Counters of save failures, which never fail an operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveHealth {
    /// Meta saves that failed.
    pub meta_failures: u64,
    /// History batches that failed (and were kept for retry).
    pub history_failures: u64,
    /// Retrieval-hint saves that failed.
    pub hint_failures: u64,
    /// The most recent failure: the channel and the backend's message.
    pub last_error: Option<(String, String)>,
}

/// A protocol [`Manager`] whose state is saved to a [`Persistence`] backend.
pub struct PersistentManager {
    manager: Manager,
    backend: Box<dyn Persistence>,
    pending: HashMap<String, PendingHistory>,
    /// Meta changes not yet accepted, for a backend that stores meta rows.
    pending_meta: HashMap<String, PendingMeta>,
    health: SaveHealth,
    /// While a group is open: the channels whose saves wait for its commit, in the order
    /// they were first touched.
    group: Option<IndexSet<String>>,
}

/// Which halves of a channel's save the backend accepted.
#[derive(Clone, Copy, Debug, Default)]
struct Written {
    meta: bool,
    history: bool,
}

impl std::fmt::Debug for PersistentManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentManager")
            .field("manager", &self.manager)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl PersistentManager {
    /// Wraps `manager` (which should hold no channels yet) around `backend`.
    pub fn new(mut manager: Manager, backend: Box<dyn Persistence>) -> Self {
        manager.set_journaling(backend.is_durable());
        Self {
            manager,
            backend,
            pending: HashMap::new(),
            pending_meta: HashMap::new(),
            health: SaveHealth::default(),
            group: None,
        }
    }

    /// Gives the backend back (the manager and its unsaved state are dropped), first
    /// rolling back whatever transaction is open: after a panic, only committed state
    /// remains.
    pub fn into_backend(mut self) -> Box<dyn Persistence> {
        self.backend.abandon();
        self.backend
    }

    /// Whether the backend keeps anything (`none` persistence keeps nothing).
    pub fn is_durable(&self) -> bool {
        self.backend.is_durable()
    }

    /// The protocol manager, for reads.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The protocol manager, for settings that persist nothing (such as the hint provider).
    pub fn manager_mut(&mut self) -> &mut Manager {
        &mut self.manager
    }

    /// Save failures so far.
    pub fn health(&self) -> &SaveHealth {
        &self.health
    }

    /// Removes and returns the events produced so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.manager.take_events()
    }

    /// Loads the channel from the backend if this process has not used it yet.
    fn load(&mut self, now_ms: u64, channel_id: &str) -> Result<(), OpError> {
        if channel_id.is_empty() || self.manager.has_channel(channel_id) {
            return Ok(());
        }
        let Some(stored) = self.backend.load_channel(channel_id)? else {
            return Ok(());
        };
        let corrupt = |source| OpError::CorruptState {
            channel_id: channel_id.to_owned(),
            source,
        };
        let meta = match &stored.meta {
            Some(bytes) => codec::decode_channel_meta(bytes).map_err(corrupt)?,
            None => Default::default(),
        };
        let history = stored
            .history
            .iter()
            .map(|row| {
                decode_stored_message(row).map_err(|source| SnapshotError::Message {
                    field: "stored message",
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        self.manager
            .restore_channel(now_ms, channel_id, ChannelData { meta, history })?;
        Ok(())
    }

    /// Saves what the last operation changed in `channel_id`, or, while a group is open,
    /// notes the channel for the group's commit.
    fn save(&mut self, channel_id: &str) {
        if !self.backend.is_durable() {
            return;
        }
        if let Some(touched) = &mut self.group {
            if !touched.contains(channel_id) {
                touched.insert(channel_id.to_owned());
            }
            return;
        }
        let written = self.write(channel_id);
        self.clear_pending(channel_id, written);
    }

    /// Forgets the queued changes the backend accepted.
    fn clear_pending(&mut self, channel_id: &str, written: Written) {
        if written.history {
            if let Some(pending) = self.pending.get_mut(channel_id) {
                pending.clear();
            }
        }
        if written.meta {
            self.pending_meta.remove(channel_id);
        }
    }

    fn record_failure(&mut self, channel_id: &str, error: PersistenceError) {
        self.health.last_error = Some((channel_id.to_owned(), error.0));
    }

    /// Hands the channel's accumulated changes to the backend: hints, then meta and
    /// history as one `save_op`. The history queue is left for the caller to clear.
    fn write(&mut self, channel_id: &str) -> Written {
        let mut written = Written::default();
        let Some(changes) = self.manager.take_changes(channel_id) else {
            return written;
        };
        let pending = self.pending.entry(channel_id.to_owned()).or_default();
        for change in changes.history {
            match change {
                HistoryChange::Append(id) => {
                    if let Some(stored) = self.manager.history_stored(channel_id, &id) {
                        pending.append(&id, stored.to_vec());
                    }
                }
                HistoryChange::Evict(id) => pending.evict(&id),
            }
        }
        let batch = (!pending.is_empty()).then(|| pending.batch());
        for (message_id, hint) in changes.hints {
            if let Err(e) = self
                .backend
                .set_retrieval_hint(channel_id, &message_id, &hint)
            {
                self.health.hint_failures += 1;
                log::warn!("saving retrieval hint of `{message_id}` on `{channel_id}` failed: {e}");
                self.record_failure(channel_id, e);
            }
        }
        let rows = self.backend.stores_meta_rows();
        let dirty = if rows {
            let pending_meta = self.pending_meta.entry(channel_id.to_owned()).or_default();
            pending_meta.note(changes.dirty, changes.buffers);
            !pending_meta.is_empty()
        } else {
            changes.dirty
        };
        if !dirty && batch.is_none() {
            return written;
        }
        crate::fault::hit(crate::fault::FaultPoint::Save, channel_id);
        let (outcome, meta_given) = if rows {
            let meta = self
                .pending_meta
                .get(channel_id)
                .filter(|_| dirty)
                .and_then(|pending| meta_rows(&self.manager, channel_id, pending));
            let outcome = self
                .backend
                .save_op_rows(channel_id, meta.as_ref(), batch.as_ref());
            (outcome, meta.is_some())
        } else {
            let meta = if dirty {
                self.manager
                    .channel_meta(channel_id)
                    .map(|m| codec::encode_channel_meta(&m))
            } else {
                None
            };
            let outcome = self
                .backend
                .save_op(channel_id, meta.as_deref(), batch.as_ref());
            (outcome, meta.is_some())
        };
        match outcome.meta {
            Ok(()) => written.meta = meta_given,
            Err(e) => {
                self.health.meta_failures += 1;
                log::warn!("saving meta of `{channel_id}` failed (kept in memory): {e}");
                self.record_failure(channel_id, e);
            }
        }
        match outcome.history {
            Ok(()) => written.history = batch.is_some(),
            Err(e) => {
                self.health.history_failures += 1;
                log::warn!("saving history of `{channel_id}` failed (queued for retry): {e}");
                self.record_failure(channel_id, e);
            }
        }
        written
    }

    /// Opens a group commit when the backend supports one (see the module docs); returns
    /// whether a group is open. Until [`Self::commit_group`], nothing is written.
    pub fn begin_group(&mut self) -> bool {
        if self.group.is_none() && self.backend.is_durable() && self.backend.groups_commits() {
            self.group = Some(IndexSet::new());
        }
        self.group.is_some()
    }

    /// Writes every channel touched since [`Self::begin_group`] in one backend
    /// transaction. A failed commit counts as a failed save of each of those channels:
    /// their history changes stay queued for the next save.
    pub fn commit_group(&mut self) {
        let Some(touched) = self.group.take() else {
            return;
        };
        if touched.is_empty() {
            return;
        }
        if let Err(e) = self.backend.begin_group() {
            // No shared transaction: each channel is saved in its own, as without groups.
            log::warn!("opening a group commit failed, saving op by op: {e}");
            for channel_id in &touched {
                self.save(channel_id);
            }
            return;
        }
        let written: Vec<(String, Written)> = touched
            .into_iter()
            .map(|channel_id| {
                let written = self.write(&channel_id);
                (channel_id, written)
            })
            .collect();
        match self.backend.commit_group() {
            Ok(()) => {
                for (channel_id, written) in written {
                    self.clear_pending(&channel_id, written);
                }
            }
            Err(e) => {
                log::warn!("group commit failed (state kept in memory, history queued): {e}");
                for (channel_id, written) in written {
                    self.health.meta_failures += u64::from(written.meta);
                    self.health.history_failures += u64::from(written.history);
                    if written.meta || written.history {
                        self.record_failure(&channel_id, e.clone());
                    }
                }
            }
        }
    }

    fn save_all(&mut self) {
        for channel_id in self.manager.channel_ids() {
            self.save(&channel_id);
        }
    }

    /// [`Manager::wrap`], persisted.
    pub fn wrap(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        message_id: &str,
        content: &[u8],
    ) -> Result<Vec<u8>, OpError> {
        self.load(now_ms, channel_id)?;
        let result = self.manager.wrap(now_ms, channel_id, message_id, content);
        self.save(channel_id);
        Ok(result?)
    }

    /// [`Manager::wrap_ephemeral`] (nothing to persist).
    pub fn wrap_ephemeral(
        &self,
        channel_id: &str,
        message_id: &str,
        content: &[u8],
    ) -> Result<Vec<u8>, OpError> {
        Ok(self
            .manager
            .wrap_ephemeral(channel_id, message_id, content)?)
    }

    /// [`Manager::build_sync_message`], persisted (the Lamport clock advances).
    pub fn build_sync_message(
        &mut self,
        now_ms: u64,
        channel_id: &str,
    ) -> Result<Vec<u8>, OpError> {
        self.load(now_ms, channel_id)?;
        let result = self.manager.build_sync_message(now_ms, channel_id);
        self.save(channel_id);
        Ok(result?)
    }

    /// [`Manager::unwrap`], persisted.
    pub fn unwrap(&mut self, now_ms: u64, bytes: &[u8]) -> Result<Unwrapped, OpError> {
        let received = self.manager.decode(bytes)?;
        let channel_id = received.message.channel_id.clone();
        self.load(now_ms, &channel_id)?;
        let result = self.manager.unwrap_decoded(now_ms, received);
        self.save(&channel_id);
        Ok(result?)
    }

    /// [`Manager::mark_dependencies_met`], persisted.
    pub fn mark_dependencies_met<S: AsRef<str>>(
        &mut self,
        now_ms: u64,
        message_ids: &[S],
        channel_id: &str,
    ) -> Result<(), OpError> {
        self.load(now_ms, channel_id)?;
        let result = self.manager.mark_dependencies_met(message_ids, channel_id);
        self.save(channel_id);
        Ok(result?)
    }

    /// Loads or creates the channel.
    pub fn ensure_channel(&mut self, now_ms: u64, channel_id: &str) -> Result<(), OpError> {
        self.load(now_ms, channel_id)?;
        self.manager.ensure_channel(channel_id)?;
        Ok(())
    }

    /// Deletes the channel from the backend, then from memory.
    pub fn remove_channel(&mut self, channel_id: &str) -> Result<(), OpError> {
        self.backend.drop_channel(channel_id)?;
        self.pending.remove(channel_id);
        self.pending_meta.remove(channel_id);
        self.manager.remove_channel(channel_id);
        Ok(())
    }

    /// Deletes every channel used in this process from the backend and from memory.
    pub fn reset(&mut self) -> Result<(), OpError> {
        let mut channels = self.manager.channel_ids();
        channels.sort();
        for channel_id in channels {
            self.remove_channel(&channel_id)?;
        }
        Ok(())
    }

    /// [`Manager::sweep_outgoing`], persisted.
    pub fn sweep_outgoing(&mut self, now_ms: u64) {
        self.manager.sweep_outgoing(now_ms);
        self.save_all();
    }

    /// [`Manager::sweep_incoming`], persisted.
    pub fn sweep_incoming(&mut self, now_ms: u64) {
        self.manager.sweep_incoming(now_ms);
        self.save_all();
    }

    /// [`Manager::sweep_repair`], persisted.
    pub fn sweep_repair(&mut self, now_ms: u64) {
        self.manager.sweep_repair(now_ms);
        self.save_all();
    }

    /// [`Manager::channel_stats`], after loading the channel from the backend if this
    /// process has not used it yet, as every operation does (a failed load fails the
    /// read). `None` for a channel that is neither in memory nor stored: asking creates
    /// no channel and writes nothing.
    pub fn channel_stats(
        &mut self,
        now_ms: u64,
        channel_id: &str,
    ) -> Result<Option<ChannelStats>, OpError> {
        self.load(now_ms, channel_id)?;
        Ok(self.manager.channel_stats(channel_id))
    }
}

/// The header and the rows of the buffer entries `pending` names, as they are now: an
/// entry still there is written (in place, or last if it moved), one gone is deleted.
/// `None` if the channel is not in memory.
fn meta_rows(manager: &Manager, channel_id: &str, pending: &PendingMeta) -> Option<MetaRows> {
    let header = codec::encode_channel_meta(&manager.channel_meta_header(channel_id)?);
    let mut rows = Vec::new();
    for kind in BufferKind::all() {
        for (message_id, moved) in pending.buffers.of(kind).iter() {
            let write = match manager.channel_meta_entry(channel_id, kind, message_id) {
                None => RowWrite::Delete,
                Some(entry) if moved => RowWrite::AtEnd(codec::encode_channel_meta(&entry)),
                Some(entry) => RowWrite::InPlace(codec::encode_channel_meta(&entry)),
            };
            rows.push(MetaRow {
                buffer: kind,
                message_id: message_id.to_owned(),
                write,
            });
        }
    }
    Some(MetaRows { header, rows })
}
