//! SDS-R timing and response groups against nim-sds's own figures
//! (`fixtures/nim-sds/sdsr.json`: T_min 30 s, T_max 300 s), plus literal vectors from it
//! so the check runs without the fixtures too.

#[path = "common/fixtures.rs"]
mod fixtures;

use fixtures::{array_of, nim_fixture, str_of, u64_of};
use storage::protocol::{in_response_group, t_req_ms, t_resp_ms};

#[test]
fn literal_vectors_match_nim_sds() {
    // (participant, sender, message, T_req, T_resp, in group of 3, in group of 10)
    let vectors = [
        ("alice", "alice", "m1", 198_167, 0, true, true),
        ("alice", "bob", "msg-xyz", 249_970, 130_812, false, false),
        ("alice", "bob", "0x3f9a", 256_910, 32_872, true, true),
        ("alice", "dave", "m1", 198_167, 290_488, true, false),
        ("bob", "alice", "msg-xyz", 73_106, 130_812, false, false),
    ];
    for (participant, sender, message, t_req, t_resp, group3, group10) in vectors {
        assert_eq!(t_req_ms(participant, message, 30_000, 300_000), t_req);
        assert_eq!(t_resp_ms(participant, sender, message, 300_000), t_resp);
        assert_eq!(in_response_group(participant, sender, message, 3), group3);
        assert_eq!(in_response_group(participant, sender, message, 10), group10);
        assert!(in_response_group(participant, sender, message, 1));
    }
}

#[test]
fn every_fixture_vector_matches_nim_sds() {
    let Some(fixture) = nim_fixture("sdsr.json") else {
        return;
    };
    let (t_min, t_max) = (u64_of(&fixture, "t_min_ms"), u64_of(&fixture, "t_max_ms"));
    let vectors = array_of(&fixture, "vectors");
    assert!(!vectors.is_empty());
    for v in vectors {
        let (participant, sender, message) = (
            str_of(v, "participant"),
            str_of(v, "sender"),
            str_of(v, "message"),
        );
        let context = format!("{participant}/{sender}/{message}");
        assert_eq!(
            t_req_ms(participant, message, t_min, t_max),
            u64_of(v, "t_req_ms"),
            "T_req {context}"
        );
        assert_eq!(
            t_resp_ms(participant, sender, message, t_max),
            u64_of(v, "t_resp_ms"),
            "T_resp {context}"
        );
        for groups in [1, 3, 10] {
            let expected = v[format!("in_group_{groups}")]
                .as_bool()
                .expect("group flag");
            assert_eq!(
                in_response_group(participant, sender, message, groups),
                expected,
                "{groups} groups {context}"
            );
        }
    }
}
