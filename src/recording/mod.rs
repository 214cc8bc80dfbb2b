//! MCAP recordings of delivered messages (recorder, ring buffer, manifest, integrity,
//! replay planning). Not built yet: see the recordings issue.
