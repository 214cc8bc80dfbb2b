//! The change journal of a channel's buffers (outgoing, incoming, both repair buffers,
//! met ids): which ids each operation added, changed or removed, so that a backend
//! storing the buffers as rows writes only those rows. Recorded as the buffers change,
//! never by comparing snapshots, so its cost follows the change, not the buffer size.
//!
//! Each buffer keeps its entries in insertion order (an entry changed in place keeps its
//! place; one removed and added again goes to the end). The journal keeps enough to
//! reproduce that order: an id whose row must go to the end is marked `moved`.

use indexmap::IndexMap;

/// One of a channel's buffers that grows with the messages outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferKind {
    /// Unacknowledged outgoing messages.
    Outgoing,
    /// Received messages waiting for dependencies.
    Incoming,
    /// SDS-R outgoing repair requests.
    OutgoingRepair,
    /// SDS-R incoming repair requests (rebroadcasts due).
    IncomingRepair,
    /// Ids declared present by the host.
    MetIds,
}

impl BufferKind {
    /// Every buffer, in the order the channel's meta lists them. (A function, not an
    /// associated constant: cbindgen would put a constant in the C header.)
    pub fn all() -> [BufferKind; 5] {
        [
            Self::Outgoing,
            Self::Incoming,
            Self::OutgoingRepair,
            Self::IncomingRepair,
            Self::MetIds,
        ]
    }
}

/// Ids of one buffer touched since the journal was last drained, in the order their
/// rows are to be written. The value says whether the row goes to the end (`true`: the
/// entry was removed, or added anew) or keeps its place (`false`: changed in place).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BufferJournal {
    ids: IndexMap<String, bool>,
}

impl BufferJournal {
    /// The entry `id` was added at the end of the buffer.
    pub(crate) fn added(&mut self, id: &str) {
        // Its latest addition decides its place among the rows added.
        self.ids.shift_remove(id);
        self.ids.insert(id.to_owned(), true);
    }

    /// The entry `id` changed where it is.
    pub(crate) fn changed(&mut self, id: &str) {
        if !self.ids.contains_key(id) {
            self.ids.insert(id.to_owned(), false);
        }
    }

    /// The entry `id` was removed.
    pub(crate) fn removed(&mut self, id: &str) {
        match self.ids.get_mut(id) {
            Some(moved) => *moved = true,
            None => {
                self.ids.insert(id.to_owned(), true);
            }
        }
    }

    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How many ids were touched.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The touched ids in write order, each with whether its row goes to the end.
    pub fn iter(&self) -> impl Iterator<Item = (&str, bool)> {
        self.ids.iter().map(|(id, moved)| (id.as_str(), *moved))
    }

    /// Adds the changes of `later`, which happened after these, as if recorded here.
    pub fn merge(&mut self, later: BufferJournal) {
        for (id, moved) in later.ids {
            if moved {
                self.added(&id);
            } else {
                self.changed(&id);
            }
        }
    }
}

/// A buffer's journal while journaling is on (the persistence layer drains it after
/// every operation); nothing is recorded while it is off.
#[derive(Debug, Default)]
pub(crate) struct Journaling(Option<BufferJournal>);

impl Journaling {
    /// Starts (with an empty journal) or stops journaling.
    pub(crate) fn set(&mut self, on: bool) {
        self.0 = on.then(BufferJournal::default);
    }

    /// Removes and returns what was journaled since the last call.
    pub(crate) fn take(&mut self) -> BufferJournal {
        self.0.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// See [`BufferJournal::added`].
    pub(crate) fn added(&mut self, id: &str) {
        if let Some(journal) = &mut self.0 {
            journal.added(id);
        }
    }

    /// See [`BufferJournal::changed`].
    pub(crate) fn changed(&mut self, id: &str) {
        if let Some(journal) = &mut self.0 {
            journal.changed(id);
        }
    }

    /// See [`BufferJournal::removed`].
    pub(crate) fn removed(&mut self, id: &str) {
        if let Some(journal) = &mut self.0 {
            journal.removed(id);
        }
    }
}

/// The journals of every buffer of one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaJournal {
    /// Outgoing buffer.
    pub outgoing: BufferJournal,
    /// Incoming buffer.
    pub incoming: BufferJournal,
    /// Outgoing repair buffer.
    pub outgoing_repair: BufferJournal,
    /// Incoming repair buffer.
    pub incoming_repair: BufferJournal,
    /// Met ids.
    pub met_ids: BufferJournal,
}

impl MetaJournal {
    /// The journal of `kind`.
    pub fn of(&self, kind: BufferKind) -> &BufferJournal {
        match kind {
            BufferKind::Outgoing => &self.outgoing,
            BufferKind::Incoming => &self.incoming,
            BufferKind::OutgoingRepair => &self.outgoing_repair,
            BufferKind::IncomingRepair => &self.incoming_repair,
            BufferKind::MetIds => &self.met_ids,
        }
    }

    /// Whether no buffer was touched.
    pub fn is_empty(&self) -> bool {
        BufferKind::all()
            .iter()
            .all(|kind| self.of(*kind).is_empty())
    }

    /// Adds the changes of `later`, which happened after these.
    pub fn merge(&mut self, later: MetaJournal) {
        self.outgoing.merge(later.outgoing);
        self.incoming.merge(later.incoming);
        self.outgoing_repair.merge(later.outgoing_repair);
        self.incoming_repair.merge(later.incoming_repair);
        self.met_ids.merge(later.met_ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(journal: &BufferJournal) -> Vec<(&str, bool)> {
        journal.iter().collect()
    }

    #[test]
    fn a_change_in_place_keeps_its_place_and_an_addition_goes_last() {
        let mut journal = BufferJournal::default();
        journal.added("a");
        journal.changed("b");
        journal.added("c");
        journal.changed("a");
        assert_eq!(entries(&journal), [("a", true), ("b", false), ("c", true)]);
    }

    #[test]
    fn removed_then_added_again_goes_last() {
        let mut journal = BufferJournal::default();
        journal.changed("a");
        journal.added("b");
        journal.removed("a");
        assert_eq!(entries(&journal), [("a", true), ("b", true)]);
        journal.added("a");
        assert_eq!(entries(&journal), [("b", true), ("a", true)]);
    }

    #[test]
    fn merging_replays_the_later_changes() {
        let mut first = BufferJournal::default();
        first.added("a");
        first.changed("b");
        let mut later = BufferJournal::default();
        later.changed("a");
        later.added("b");
        later.changed("c");
        first.merge(later);
        assert_eq!(entries(&first), [("a", true), ("b", true), ("c", false)]);
    }
}
