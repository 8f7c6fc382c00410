//! pluto's counters in Prometheus' text exposition format (version 0.0.4).
//!
//! One formatter for both `ipsec metrics` (whack, which reads pluto's
//! `--globalstatus --json` and `--trafficstatus --json`) and pluto's own
//! `metrics-listen=` HTTP endpoint (which builds the same two documents in the
//! daemon), so a scrape of either shows the same text. It works on the JSON
//! values, the documented status schema, rather than on daemon types: whack
//! only ever sees the JSON.

use std::fmt::Write as _;

use serde_json::Value;

/// The HTTP Content-Type of the text this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// A metric name from a libreswan counter name (`total.ipsec.traffic.in` ->
/// `pluto_total_ipsec_traffic_in`).
pub fn metric_name(key: &str) -> String {
    let body: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("pluto_{body}")
}

/// A label value with Prometheus' escapes.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The per-connection metrics: name, type, help, and the field of a connection's
/// object in `--globalstatus --json`'s `connections`.
const PER_CONNECTION: &[(&str, &str, &str, &str)] = &[
    (
        "pluto_connection_ike_sas",
        "gauge",
        "established IKE SAs of the connection",
        "ike_sas",
    ),
    (
        "pluto_connection_child_sas",
        "gauge",
        "Child SAs of the connection in the kernel",
        "child_sas",
    ),
    (
        "pluto_connection_ike_rekeys_total",
        "counter",
        "IKE SA rekeys of the connection (either end started them)",
        "ike_rekeys",
    ),
    (
        "pluto_connection_child_rekeys_total",
        "counter",
        "Child SA rekeys of the connection (either end started them)",
        "child_rekeys",
    ),
    (
        "pluto_connection_in_bytes_total",
        "counter",
        "bytes received on the connection's Child SAs, deleted and current",
        "in_bytes",
    ),
    (
        "pluto_connection_out_bytes_total",
        "counter",
        "bytes sent on the connection's Child SAs, deleted and current",
        "out_bytes",
    ),
];

/// The exposition text: every `--globalstatus` counter (`total.*` as counters, the
/// rest as gauges), the per-connection counts of its `connections` object, and,
/// per Child SA in `traffic`'s list, its bytes in and out.
pub fn prometheus(global: &Value, traffic: &Value) -> String {
    let mut s = String::new();
    if let Some(m) = global.as_object() {
        for (k, v) in m {
            let Some(n) = v.as_u64() else { continue };
            let name = metric_name(k);
            let kind = if k.starts_with("total.") {
                "counter"
            } else {
                "gauge"
            };
            let _ = write!(s, "# TYPE {name} {kind}\n{name} {n}\n");
        }
    }
    if let Some(conns) = global.get("connections").and_then(Value::as_object) {
        for (metric, kind, help, field) in PER_CONNECTION {
            let _ = write!(s, "# HELP {metric} {help}\n# TYPE {metric} {kind}\n");
            for (name, c) in conns {
                let n = c[field].as_u64().unwrap_or_default();
                let _ = writeln!(s, "{metric}{{connection=\"{}\"}} {n}", label(name));
            }
        }
        let metric = "pluto_connection_failures_total";
        let _ = write!(
            s,
            "# HELP {metric} failed negotiations of the connection by SA kind and notify (or TIMEOUT, HALF_OPEN_EXPIRED, PEER_DEAD, ERROR)\n# TYPE {metric} counter\n"
        );
        for (name, c) in conns {
            let Some(kinds) = c["failures"].as_object() else {
                continue;
            };
            for (kind, by) in kinds {
                let Some(by) = by.as_object() else { continue };
                for (reason, n) in by {
                    let n = n.as_u64().unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "{metric}{{connection=\"{}\",sa=\"{}\",notify=\"{}\"}} {n}",
                        label(name),
                        label(kind),
                        label(reason)
                    );
                }
            }
        }
    }
    let sas = traffic["traffic"].as_array().cloned().unwrap_or_default();
    for (metric, field, help) in [
        (
            "pluto_child_sa_in_bytes",
            "in_bytes",
            "bytes received on the Child SA",
        ),
        (
            "pluto_child_sa_out_bytes",
            "out_bytes",
            "bytes sent on the Child SA",
        ),
    ] {
        let _ = write!(s, "# HELP {metric} {help}\n# TYPE {metric} counter\n");
        for sa in &sas {
            let conn = sa["connection"].as_str().unwrap_or_default();
            let serial = sa["serial"].as_u64().unwrap_or_default();
            let peer = sa["id"].as_str().unwrap_or_default();
            let n = sa[field].as_u64().unwrap_or_default();
            let _ = writeln!(
                s,
                "{metric}{{connection=\"{}\",serial=\"{serial}\",peer=\"{}\"}} {n}",
                label(conn),
                label(peer)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_prometheus_text() {
        let global = serde_json::json!({
            "current.states.ike": 1,
            "total.ipsec.traffic.in": 84,
            "connections": {
                "west-east": {
                    "ike_sas": 1, "child_sas": 2, "ike_rekeys": 3, "child_rekeys": 4,
                    "in_bytes": 500, "out_bytes": 600,
                    "failures": {
                        "ike": { "AUTHENTICATION_FAILED": 2, "TIMEOUT": 1 },
                        "child": { "TS_UNACCEPTABLE": 5 }
                    }
                },
                "rw": { "ike_sas": 0, "child_sas": 0, "ike_rekeys": 0, "child_rekeys": 0,
                        "in_bytes": 0, "out_bytes": 0, "failures": {} }
            }
        });
        let traffic = serde_json::json!({ "traffic": [
            { "serial": 2, "connection": "west-\"east\"", "in_bytes": 84, "out_bytes": 42, "id": "@east" }
        ]});
        let text = prometheus(&global, &traffic);
        for line in [
            "# TYPE pluto_current_states_ike gauge\npluto_current_states_ike 1\n",
            "# TYPE pluto_total_ipsec_traffic_in counter\npluto_total_ipsec_traffic_in 84\n",
            "pluto_child_sa_in_bytes{connection=\"west-\\\"east\\\"\",serial=\"2\",peer=\"@east\"} 84\n",
            "pluto_child_sa_out_bytes{connection=\"west-\\\"east\\\"\",serial=\"2\",peer=\"@east\"} 42\n",
            "# TYPE pluto_connection_ike_sas gauge\npluto_connection_ike_sas{connection=\"rw\"} 0\npluto_connection_ike_sas{connection=\"west-east\"} 1\n",
            "pluto_connection_child_sas{connection=\"west-east\"} 2\n",
            "# TYPE pluto_connection_ike_rekeys_total counter\n",
            "pluto_connection_ike_rekeys_total{connection=\"west-east\"} 3\n",
            "pluto_connection_child_rekeys_total{connection=\"west-east\"} 4\n",
            "pluto_connection_in_bytes_total{connection=\"west-east\"} 500\n",
            "pluto_connection_out_bytes_total{connection=\"west-east\"} 600\n",
            "pluto_connection_failures_total{connection=\"west-east\",sa=\"ike\",notify=\"AUTHENTICATION_FAILED\"} 2\n",
            "pluto_connection_failures_total{connection=\"west-east\",sa=\"ike\",notify=\"TIMEOUT\"} 1\n",
            "pluto_connection_failures_total{connection=\"west-east\",sa=\"child\",notify=\"TS_UNACCEPTABLE\"} 5\n",
        ] {
            assert!(text.contains(line), "{line}\n---\n{text}");
        }
        // The connections object is no counter of its own; each metric has one
        // TYPE line (Prometheus refuses a second).
        assert!(!text.contains("pluto_connections "), "{text}");
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert_eq!(text.matches(&format!("{l}\n")).count(), 1, "{l}");
        }
        // Every sample line is NAME{labels} VALUE or NAME VALUE.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<u64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn without_connections_or_traffic_the_text_still_parses() {
        let text = prometheus(&serde_json::json!({}), &serde_json::json!({}));
        assert!(text.contains("# TYPE pluto_child_sa_in_bytes counter\n"));
        assert!(!text.contains("pluto_connection_"));
        assert_eq!(
            metric_name("total.ike.dpd.sent"),
            "pluto_total_ike_dpd_sent"
        );
    }
}
