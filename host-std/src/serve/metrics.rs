//! The service's Prometheus metrics (text exposition format, encoded by
//! the `prometheus-client` crate), named as `service.md` §4 says: one
//! `raconn_` prefix, base units, `_total` counters, no request ids or other
//! unbounded labels. Gauges of the request table are read at scrape time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpOutcome {
    pub op: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabel {
    pub version: String,
    pub instance: String,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<OpOutcome, Counter>,
    pub ca_call: Family<ServiceLabel, Histogram>,
    pub jobs: Family<StateLabel, Gauge>,
    pub oldest_pending_age: Gauge<f64, AtomicU64>,
    pub retries: Family<ReasonLabel, Counter>,
    pub lease_expired: Counter,
    pub ra_not_after: Gauge,
    pub device_keys_ready: Gauge,
}

impl Metrics {
    /// A registry with every metric, `raconn_build_info` set for `instance`.
    pub fn new(instance: &str) -> Metrics {
        let mut registry = Registry::with_prefix("raconn");
        let requests = Family::<OpOutcome, Counter>::default();
        registry.register(
            "requests",
            "Requests by operation (submit, issue, revoke) and outcome",
            requests.clone(),
        );
        let ca_call = Family::<ServiceLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ])
        });
        registry.register_with_unit(
            "ca_call_duration",
            "Duration of one call to the CA's PKI Web Services, by service",
            prometheus_client::registry::Unit::Seconds,
            ca_call.clone(),
        );
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register("jobs", "Requests in the database by state", jobs.clone());
        let oldest_pending_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "oldest_pending_age",
            "Age of the oldest request not yet issued, failed or revoked",
            prometheus_client::registry::Unit::Seconds,
            oldest_pending_age.clone(),
        );
        let retries = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "retries",
            "Retries scheduled, by the error code that caused them",
            retries.clone(),
        );
        let lease_expired = Counter::default();
        registry.register(
            "lease_expired",
            "Requests taken over after another worker's lease expired",
            lease_expired.clone(),
        );
        let ra_not_after = Gauge::default();
        registry.register_with_unit(
            "ra_cert_not_after_timestamp",
            "notAfter of the RA certificate in use, Unix time",
            prometheus_client::registry::Unit::Seconds,
            ra_not_after.clone(),
        );
        let device_keys_ready = Gauge::default();
        registry.register(
            "device_keys_ready",
            "RSA device keys made ahead of time and not yet used (key_pool)",
            device_keys_ready.clone(),
        );
        let build = Family::<BuildLabel, Gauge>::default();
        registry.register(
            "build_info",
            "raconn version and this instance's id",
            build.clone(),
        );
        build
            .get_or_create(&BuildLabel {
                version: env!("CARGO_PKG_VERSION").into(),
                instance: instance.into(),
            })
            .set(1);
        Metrics {
            registry,
            requests,
            ca_call,
            jobs,
            oldest_pending_age,
            retries,
            lease_expired,
            ra_not_after,
            device_keys_ready,
        }
    }

    /// Counts one `op` with `outcome`.
    pub fn count(&self, op: &str, outcome: &str) {
        self.requests
            .get_or_create(&OpOutcome {
                op: op.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if prometheus_client::encoding::text::encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}
