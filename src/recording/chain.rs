//! The hash chain of a recording's chunks: what makes a removed, inserted, reordered or
//! substituted chunk visible even when the manifest was edited to match.
//!
//! Each sealed chunk's manifest entry carries `prev_hash`, the SHA-256 of the previous
//! entry's *canonical bytes* (the first entry's is [`GENESIS`], 32 zero bytes), and the
//! manifest carries `head`, the SHA-256 of the last entry's canonical bytes. The
//! canonical bytes of an entry are a fixed binary encoding that no serializer can change
//! (all integers unsigned 64-bit big-endian, each string preceded by its byte length as
//! such an integer):
//!
//! ```text
//! "libstorage-chunk-v1"            19 ASCII bytes, no length prefix
//! index                            u64
//! len(file)    file                UTF-8 bytes of the chunk file name
//! size                             u64
//! len(sha256)  sha256              the manifest's lower-case hex text of the file hash
//! message_count                    u64
//! first_log_time_ns                u64
//! last_log_time_ns                 u64
//! prev_hash                        32 raw bytes (the hex of the manifest decoded)
//! ```
//!
//! A manifest written before chains existed (no `head`, no `prev_hash` anywhere) is
//! *legacy*: verify reports its chain as `"legacy"` (not broken). A writer that opens a
//! legacy recording (crash recovery) chains its entries as it finds them, from genesis,
//! before it adds any; from then on it is an ordinary chain.
//!
//! Ring buffers evict in memory only: a sealed window is a new recording with its own
//! chain from genesis, so no chunk is ever evicted from a chain on disk.

use sha2::{Digest, Sha256};

use super::chunk_writer::hex_lower;
use super::manifest::{ChunkEntry, Manifest};

/// The `prev_hash` of a recording's first chunk: 32 zero bytes.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// Domain tag at the start of an entry's canonical bytes.
const ENTRY_TAG: &[u8] = b"libstorage-chunk-v1";

/// Appends `value` as 8 big-endian bytes.
pub(crate) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends `text` preceded by its byte length.
pub(crate) fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u64(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Decodes 64 hex digits into 32 bytes; `None` for anything else.
pub(crate) fn decode_hash(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex of a 32-byte hash.
pub(crate) fn hash_hex(hash: &[u8; 32]) -> String {
    hex_lower(hash)
}

/// The canonical bytes of `entry` whose previous hash is `prev` (see the module docs).
pub(crate) fn canonical_bytes(entry: &ChunkEntry, prev: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_TAG.len() + 8 * 8 + entry.file.len() + 64 + 32);
    out.extend_from_slice(ENTRY_TAG);
    put_u64(&mut out, entry.index);
    put_str(&mut out, &entry.file);
    put_u64(&mut out, entry.size);
    put_str(&mut out, &entry.sha256);
    put_u64(&mut out, entry.message_count);
    put_u64(&mut out, entry.first_log_time_ns);
    put_u64(&mut out, entry.last_log_time_ns);
    out.extend_from_slice(prev);
    out
}

/// The SHA-256 of `entry`'s canonical bytes with previous hash `prev`.
pub(crate) fn entry_hash(entry: &ChunkEntry, prev: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(canonical_bytes(entry, prev)).into()
}

/// Links `entry` after the manifest's current head (genesis when it has none) and makes
/// it the new head. The caller pushes the entry and writes the manifest.
pub(crate) fn link(manifest: &mut Manifest, entry: &mut ChunkEntry) {
    let prev = manifest
        .head
        .as_deref()
        .and_then(decode_hash)
        .unwrap_or(GENESIS);
    entry.prev_hash = Some(hash_hex(&prev));
    manifest.head = Some(hash_hex(&entry_hash(entry, &prev)));
}

/// Whether a manifest predates chains: entries, but no head and no `prev_hash` at all.
pub(crate) fn is_legacy(manifest: &Manifest) -> bool {
    manifest.head.is_none()
        && !manifest.chunks.is_empty()
        && manifest.chunks.iter().all(|c| c.prev_hash.is_none())
}

/// Chains a legacy manifest's entries as they are, from genesis, in index order (see the
/// module docs). Does nothing to a manifest that is not legacy.
pub(crate) fn migrate_legacy(manifest: &mut Manifest) {
    if !is_legacy(manifest) {
        return;
    }
    manifest.chunks.sort_by_key(|c| c.index);
    let mut chunks = std::mem::take(&mut manifest.chunks);
    for entry in &mut chunks {
        link(manifest, entry);
    }
    manifest.chunks = chunks;
}

/// What the chain check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChainCheck {
    /// Every link holds and `head` is the last entry's hash; carries the hash after
    /// each entry (index-aligned with the manifest's chunks).
    Intact(Vec<[u8; 32]>),
    /// A legacy manifest: no chain to check.
    Legacy,
    /// A link does not hold: the position in the manifest's list (`chunks.len()` when
    /// it is the head that is wrong) and why.
    Broken {
        /// Position of the first entry (or the head) that does not link.
        at: usize,
        /// What does not match.
        reason: String,
    },
}

/// Checks every link of `manifest`'s chain (see the module docs).
pub(crate) fn check(manifest: &Manifest) -> ChainCheck {
    if is_legacy(manifest) {
        return ChainCheck::Legacy;
    }
    let mut prev = GENESIS;
    let mut hashes = Vec::with_capacity(manifest.chunks.len());
    let mut last_index = None;
    for (at, entry) in manifest.chunks.iter().enumerate() {
        let broken = |reason: String| ChainCheck::Broken { at, reason };
        if last_index.is_some_and(|last| entry.index <= last) {
            return broken(format!(
                "chunk {} comes after chunk {}: out of order",
                entry.index,
                last_index.unwrap_or_default()
            ));
        }
        last_index = Some(entry.index);
        let Some(recorded) = entry.prev_hash.as_deref() else {
            return broken(format!("chunk {} has no prev_hash", entry.index));
        };
        let Some(recorded) = decode_hash(recorded) else {
            return broken(format!(
                "chunk {}: prev_hash is not 64 hex digits",
                entry.index
            ));
        };
        if recorded != prev {
            return broken(format!(
                "chunk {}: prev_hash {} is not the hash {} of the entry before it \
                 (a chunk was removed, inserted, reordered or substituted)",
                entry.index,
                hash_hex(&recorded),
                hash_hex(&prev)
            ));
        }
        prev = entry_hash(entry, &prev);
        hashes.push(prev);
    }
    let expected_head = if manifest.chunks.is_empty() {
        None
    } else {
        Some(hash_hex(&prev))
    };
    let recorded_head = manifest.head.clone();
    let head_ok = match (&expected_head, &recorded_head) {
        (None, None) => true,
        (None, Some(head)) => decode_hash(head) == Some(GENESIS),
        (Some(expected), Some(head)) => expected == head,
        (Some(_), None) => false,
    };
    if !head_ok {
        return ChainCheck::Broken {
            at: manifest.chunks.len(),
            reason: format!(
                "the manifest's head {} is not the last entry's hash {}",
                recorded_head.as_deref().unwrap_or("(none)"),
                expected_head.as_deref().unwrap_or("(none)")
            ),
        };
    }
    ChainCheck::Intact(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> ChunkEntry {
        ChunkEntry {
            index,
            file: format!("chunk-{index:06}-00000000.mcap"),
            sha256: "00".repeat(32),
            size: 100 + index,
            message_count: 3,
            first_log_time_ns: index * 10,
            last_log_time_ns: index * 10 + 5,
            ..ChunkEntry::default()
        }
    }

    fn chained(n: u64) -> Manifest {
        let mut manifest = Manifest::new("r", "p", "continuous", 0);
        for i in 0..n {
            let mut e = entry(i);
            link(&mut manifest, &mut e);
            manifest.chunks.push(e);
        }
        manifest
    }

    #[test]
    fn canonical_bytes_are_the_documented_encoding() {
        let e = entry(1);
        let bytes = canonical_bytes(&e, &GENESIS);
        let mut expected = b"libstorage-chunk-v1".to_vec();
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(&(e.file.len() as u64).to_be_bytes());
        expected.extend_from_slice(e.file.as_bytes());
        expected.extend_from_slice(&101u64.to_be_bytes());
        expected.extend_from_slice(&64u64.to_be_bytes());
        expected.extend_from_slice(e.sha256.as_bytes());
        expected.extend_from_slice(&3u64.to_be_bytes());
        expected.extend_from_slice(&10u64.to_be_bytes());
        expected.extend_from_slice(&15u64.to_be_bytes());
        expected.extend_from_slice(&[0; 32]);
        assert_eq!(bytes, expected);
        // Unknown manifest fields are not part of the chain.
        let mut with_extra = e.clone();
        with_extra.extra.insert("note".into(), serde_json::json!(1));
        assert_eq!(canonical_bytes(&with_extra, &GENESIS), bytes);
    }

    #[test]
    fn a_linked_chain_checks_and_every_edit_breaks_it() {
        let manifest = chained(4);
        assert!(matches!(check(&manifest), ChainCheck::Intact(h) if h.len() == 4));
        assert_eq!(
            manifest.chunks[0].prev_hash.as_deref(),
            Some("0".repeat(64).as_str())
        );

        let mut removed = manifest.clone();
        removed.chunks.remove(1);
        assert!(matches!(check(&removed), ChainCheck::Broken { at: 1, .. }));

        let mut swapped = manifest.clone();
        swapped.chunks.swap(1, 2);
        assert!(matches!(check(&swapped), ChainCheck::Broken { at: 1, .. }));

        let mut edited = manifest.clone();
        edited.chunks[2].message_count += 1;
        assert!(matches!(check(&edited), ChainCheck::Broken { at: 3, .. }));

        let mut last_edited = manifest.clone();
        last_edited.chunks[3].size += 1;
        assert!(matches!(
            check(&last_edited),
            ChainCheck::Broken { at: 4, .. }
        ));

        let mut no_head = manifest.clone();
        no_head.head = None;
        assert!(matches!(check(&no_head), ChainCheck::Broken { at: 4, .. }));

        let mut bad_hex = manifest;
        bad_hex.chunks[0].prev_hash = Some("zz".into());
        assert!(matches!(check(&bad_hex), ChainCheck::Broken { at: 0, .. }));
    }

    #[test]
    fn legacy_manifests_are_reported_and_migrated() {
        let mut legacy = Manifest::new("r", "p", "continuous", 0);
        legacy.chunks = vec![entry(0), entry(1)];
        assert_eq!(check(&legacy), ChainCheck::Legacy);
        migrate_legacy(&mut legacy);
        assert_eq!(legacy, chained(2));
        // An empty manifest is not legacy: its chain is empty and intact.
        let empty = Manifest::new("r", "p", "continuous", 0);
        assert_eq!(check(&empty), ChainCheck::Intact(Vec::new()));
        // Half-chained is not legacy: it is broken.
        let mut half = chained(2);
        half.chunks[1].prev_hash = None;
        half.head = None;
        assert!(matches!(check(&half), ChainCheck::Broken { at: 1, .. }));
    }

    #[test]
    fn decode_hash_refuses_anything_but_64_hex_digits() {
        assert_eq!(decode_hash(&"ab".repeat(32)), Some([0xab; 32]));
        for bad in [
            "",
            "ab",
            &"zz".repeat(32),
            &"a".repeat(65),
            "é".repeat(32).as_str(),
        ] {
            assert_eq!(decode_hash(bad), None, "{bad}");
        }
    }
}
