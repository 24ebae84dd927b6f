//! Personal data protection (spec rule 3.5): the keyed hash lives in
//! `dfstore-core` because executors evaluate it too.

pub use dfstore_core::pii::{
    KEY_ENV, KEY_FILE_ENV, PiiKey, SecretError, default_key_file, node_udf,
};
