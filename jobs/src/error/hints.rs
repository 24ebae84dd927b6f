//! The clauses and fixes the error messages add to what failed.

/// What a [`super::Error::BadPartitionValue`] found, as a clause.
pub(super) fn partition_text(column: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{column} `{value}` cannot name a partition folder"),
        None => format!("a row has no {column} (NULL)"),
    }
}

/// What a [`super::Error::SchemaMismatch`] found, as a clause.
pub(super) fn mismatch_text(expected: &str, found: Option<&str>) -> String {
    match found {
        Some(found) => format!("expected {expected}, found {found}"),
        None => format!("missing (expected {expected})"),
    }
}

/// A DataFusion error as one readable clause: its root cause, without the
/// `External error:` wrapper that our own messages get inside DataFusion.
pub(super) fn engine_text(e: &datafusion::error::DataFusionError) -> String {
    let text = match e.find_root() {
        datafusion::error::DataFusionError::External(inner) => inner.to_string(),
        root => root.to_string(),
    };
    // A cluster reports an executor's exhausted pool as text.
    if matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ResourcesExhausted(_)
    ) || text.contains("Resources exhausted")
    {
        format!("{text}{MEMORY_HINT}")
    } else {
        text
    }
}

/// What to do when a plan needs more memory than its pool holds.
const MEMORY_HINT: &str = "; the memory pool is too small for this model: raise it with --memory-limit (env DFSTORE_MEMORY_LIMIT, e.g. --memory-limit 4GiB) for the embedded engine, or each executor's --memory-pool-size on a cluster";

/// An object-store failure as one readable clause: an S3 error's XML body
/// (`<?xml …><Error><Code>AccessDenied</Code><Message>Access Denied</Message>…`)
/// shortened to its code and message.
pub(super) fn storage_text(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    let Some(start) = text.find("<?xml") else {
        return text;
    };
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let from = text[start..].find(&open)? + start + open.len();
        let to = text[from..].find(&format!("</{name}>"))? + from;
        Some(text[from..to].to_string())
    };
    let end = text[start..]
        .find("</Error>")
        .map_or(text.len(), |at| start + at + "</Error>".len());
    let body = match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code} ({message})"),
        (Some(code), None) => code,
        _ => return text,
    };
    format!("{}{body}{}", &text[..start], &text[end..])
}

/// What to do about the object-store failures users cause most.
pub(super) fn storage_hint(e: &object_store::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("/latest/api/token")
        || text.contains("169.254.169.254")
        || text.contains("no AWS credentials were found")
    {
        "; no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance profile"
    } else if text.contains("NoSuchBucket") {
        "; the bucket does not exist: check the bucket in --lake"
    } else if text.contains("AccessDenied") || text.contains("403 Forbidden") {
        "; access denied: the credentials in use may not read or write this prefix"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_error_body_is_shortened_to_its_code_and_message() {
        let text = "Error performing GET http://127.0.0.1:1/b?list-type=2 in 4ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\" encoding=\"utf-8\"?> <Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>X</RequestId></Error>";
        assert_eq!(
            storage_text(&text),
            "Error performing GET http://127.0.0.1:1/b?list-type=2 in 4ms - Server returned non-2xx status code: 403 Forbidden: AccessDenied (Access Denied)"
        );
        assert_eq!(storage_text(&"connection refused"), "connection refused");
    }
}
