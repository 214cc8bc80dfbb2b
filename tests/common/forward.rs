//! Test backends that wrap another and override a few calls: `forward_persistence!`
//! writes the five required `Persistence` methods, passing each to a field.

/// Inside `impl Persistence for T`: `save_channel_meta`, `update_history`,
/// `load_channel`, `drop_channel` and `set_retrieval_hint`, each forwarded to
/// `self.$inner`.
macro_rules! forward_persistence {
    ($inner:ident) => {
        fn save_channel_meta(
            &mut self,
            channel_id: &str,
            meta: &[u8],
        ) -> Result<(), storage::persistence::PersistenceError> {
            self.$inner.save_channel_meta(channel_id, meta)
        }
        fn update_history(
            &mut self,
            channel_id: &str,
            batch: &storage::persistence::HistoryBatch,
        ) -> Result<(), storage::persistence::PersistenceError> {
            self.$inner.update_history(channel_id, batch)
        }
        fn load_channel(
            &mut self,
            channel_id: &str,
        ) -> Result<
            Option<storage::persistence::StoredChannel>,
            storage::persistence::PersistenceError,
        > {
            self.$inner.load_channel(channel_id)
        }
        fn drop_channel(
            &mut self,
            channel_id: &str,
        ) -> Result<(), storage::persistence::PersistenceError> {
            self.$inner.drop_channel(channel_id)
        }
        fn set_retrieval_hint(
            &mut self,
            channel_id: &str,
            message_id: &str,
            hint: &[u8],
        ) -> Result<(), storage::persistence::PersistenceError> {
            self.$inner.set_retrieval_hint(channel_id, message_id, hint)
        }
    };
}
