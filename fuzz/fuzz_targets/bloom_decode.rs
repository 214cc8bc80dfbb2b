//! A peer's serialized bloom filter: both decoders agree, and a decoded filter answers
//! lookups.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::protocol::{BloomFilter, PeerBloom};

fuzz_target!(|data: &[u8]| {
    let peer = PeerBloom::parse(data);
    let owned = BloomFilter::deserialize(data);
    assert_eq!(peer.as_ref().err(), owned.as_ref().err());
    if let (Ok(peer), Ok(owned)) = (peer, owned) {
        for probe in ["", "a", "msg-1", "some-longer-message-id-0123456789"] {
            assert_eq!(peer.contains(probe), owned.contains(probe));
        }
    }
});
