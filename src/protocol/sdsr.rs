//! SDS-R timing and response-group formulas, bit for bit as nim-sds computes them with
//! Nim's `hash` (FarmHash Fingerprint64). Absolute values are unsigned, so no input can
//! overflow.

use super::farmhash::{nim_hash, nim_hash_abs};

fn hash_abs_concat(a: &str, b: &str) -> u64 {
    let mut joined = Vec::with_capacity(a.len() + b.len());
    joined.extend_from_slice(a.as_bytes());
    joined.extend_from_slice(b.as_bytes());
    nim_hash_abs(&joined)
}

/// Repair-request backoff T_req: `|hash(participant ++ message)| mod (T_max - T_min) + T_min`.
pub fn t_req_ms(participant_id: &str, message_id: &str, t_min_ms: u64, t_max_ms: u64) -> u64 {
    let range = t_max_ms.saturating_sub(t_min_ms);
    if range == 0 {
        return t_min_ms;
    }
    hash_abs_concat(participant_id, message_id) % range + t_min_ms
}

/// Repair-response backoff T_resp:
/// `(|hash(participant) xor hash(sender)| mod T_max) * (|hash(message)| mod T_max) mod T_max`.
/// The original sender (distance 0) responds at once.
pub fn t_resp_ms(participant_id: &str, sender_id: &str, message_id: &str, t_max_ms: u64) -> u64 {
    let distance =
        (nim_hash(participant_id.as_bytes()) ^ nim_hash(sender_id.as_bytes())).unsigned_abs();
    if t_max_ms == 0 || distance == 0 {
        return 0;
    }
    let d = u128::from(distance % t_max_ms);
    let m = u128::from(nim_hash_abs(message_id.as_bytes()) % t_max_ms);
    // Both factors are below t_max_ms, so the product and the result fit.
    ((d * m) % u128::from(t_max_ms)) as u64
}

/// Whether this participant answers repair requests for `message_id` from `sender_id`:
/// `|hash(participant ++ message)| mod g == |hash(sender ++ message)| mod g`.
pub fn in_response_group(
    participant_id: &str,
    sender_id: &str,
    message_id: &str,
    num_groups: u32,
) -> bool {
    if num_groups <= 1 {
        return true;
    }
    let groups = u64::from(num_groups);
    hash_abs_concat(participant_id, message_id) % groups
        == hash_abs_concat(sender_id, message_id) % groups
}
