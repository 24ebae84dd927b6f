//! The night's numbers as CloudWatch metrics (`PutMetricData`), for a lake
//! watched from AWS: one namespace, the Prometheus families renamed the
//! CloudWatch way (`dfstore_rows_rejected{table,rule}` becomes
//! `RowsRejected` with dimensions `Lake`, `Table`, `Rule`), on the AWS
//! credential chain and `AWS_ENDPOINT_URL`. The template's
//! `ReconciliationFailed` alarm reads one of them.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::error::{Error, Result};
use crate::nightly::metrics::Family;

/// `PutMetricData` takes at most this many data per call.
const PER_CALL: usize = 500;

/// The CloudWatch name of a Prometheus family or label: `dfstore_rows_read`
/// → `RowsRead`, `periodo` → `Periodo`.
pub fn metric_name(prometheus: &str) -> String {
    prometheus
        .strip_prefix("dfstore_")
        .unwrap_or(prometheus)
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// The unit of a family, from its name's suffix.
fn unit(prometheus: &str) -> StandardUnit {
    if prometheus.ends_with("_timestamp_seconds") {
        StandardUnit::None
    } else if prometheus.ends_with("_seconds") {
        StandardUnit::Seconds
    } else if prometheus.contains("_rows") || prometheus.ends_with("_attempts") {
        StandardUnit::Count
    } else {
        StandardUnit::None
    }
}

/// The data of `families`, named and dimensioned the CloudWatch way.
pub fn data(families: &[Family], at: chrono::DateTime<chrono::Utc>) -> Vec<MetricDatum> {
    let timestamp = DateTime::from_millis(at.timestamp_millis());
    families
        .iter()
        .flat_map(|family| {
            let name = metric_name(family.name);
            let unit = unit(family.name);
            family.samples.iter().map(move |(labels, value)| {
                let dimensions = labels
                    .iter()
                    .map(|(label, value)| {
                        Dimension::builder()
                            .name(metric_name(label))
                            .value(value.clone())
                            .build()
                    })
                    .collect();
                MetricDatum::builder()
                    .metric_name(name.clone())
                    .set_dimensions(Some(dimensions))
                    .value(*value)
                    .unit(unit.clone())
                    .timestamp(timestamp)
                    .build()
            })
        })
        .collect()
}

/// Puts `families` into `namespace`, in as few calls as CloudWatch allows.
pub async fn put(namespace: &str, families: &[Family]) -> Result<usize> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let data = data(families, chrono::Utc::now());
    for chunk in data.chunks(PER_CALL) {
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| Error::Aws {
                service: "CloudWatch".into(),
                what: format!("PutMetricData into namespace {namespace}"),
                reason: DisplayErrorContext(&e).to_string(),
                fix: "check the credentials, the region and that the role may \
                      cloudwatch:PutMetricData in this namespace (--cloudwatch-namespace)"
                    .into(),
            })?;
    }
    Ok(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_become_cloudwatch_names() {
        assert_eq!(
            metric_name("dfstore_reconciliation_failed"),
            "ReconciliationFailed"
        );
        assert_eq!(metric_name("dfstore_rows_read"), "RowsRead");
        assert_eq!(metric_name("periodo"), "Periodo");
        assert_eq!(unit("dfstore_nightly_step_seconds"), StandardUnit::Seconds);
        assert_eq!(
            unit("dfstore_nightly_finished_timestamp_seconds"),
            StandardUnit::None
        );
        assert_eq!(unit("dfstore_rows_rejected"), StandardUnit::Count);
    }
}
