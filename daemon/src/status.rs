//! The status forms: text as libreswan 5 prints it (line for line where scripts
//! parse it), and the `--json` documents described in docs/whack.md.
//!
//! Everything here is a pure function of [`crate::pluto::Pluto`]'s state, so the
//! output is tested without a socket.

use std::net::IpAddr;

use conn::connection::{Connection, End, Kind};
use conn::policy::NAT_KEEPALIVE;
use conn::spec::IkeVersion;
use conn::status::StatusExtra;
use serde_json::{json, Value};

use crate::pluto::Pluto;
use crate::stats::SaCounts;

/// `--briefstatus`.
pub fn brief(p: &Pluto) -> Vec<String> {
    let sa = p.sa_counts();
    vec![
        format!(
            "State Information: DDoS cookies {}, {} new IKE connections",
            if p.ddos_cookies_required() {
                "required"
            } else {
                "not required"
            },
            if p.accepting_new_ike() {
                "Accepting"
            } else {
                "Not accepting"
            }
        ),
        format!(
            "IKE SAs: total({}), half-open({}), open({}), authenticated({}), anonymous({})",
            sa.ike_total(),
            sa.ike_half_open,
            sa.ike_open,
            sa.ike_authenticated,
            sa.ike_anonymous
        ),
        format!(
            "IPsec SAs: total({}), authenticated({}), anonymous({})",
            sa.ipsec_authenticated + sa.ipsec_anonymous,
            sa.ipsec_authenticated,
            sa.ipsec_anonymous
        ),
    ]
}

fn brief_json(p: &Pluto) -> Value {
    let sa = p.sa_counts();
    json!({
        "ddos_cookies_required": p.ddos_cookies_required(),
        "accepting_new_ike": p.accepting_new_ike(),
        "ike_sas": {
            "total": sa.ike_total(),
            "half_open": sa.ike_half_open,
            "open": sa.ike_open,
            "authenticated": sa.ike_authenticated,
            "anonymous": sa.ike_anonymous,
        },
        "ipsec_sas": {
            "total": sa.ipsec_authenticated + sa.ipsec_anonymous,
            "authenticated": sa.ipsec_authenticated,
            "anonymous": sa.ipsec_anonymous,
        },
    })
}

fn end_json(e: &End) -> Value {
    json!({
        "host": e.host.to_string(),
        "host_addr": e.host_addr.map(|a| a.to_string()),
        "ikeport": e.ikeport,
        "id": e.id.to_string(),
        "id_type": e.id.type_name(),
        "id_given": e.id_given,
        "cert": e.cert,
        "ca": e.ca,
        "groups": e.groups,
        "sendcert": e.sendcert.keyword(),
        "sendca": e.sendca.keyword(),
        "nexthop": e.nexthop.map(|a| a.to_string()),
        "subnets": e.subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "protoport": e.protoport.map(|p| p.to_string()),
        "sourceip": e.sourceip.map(|a| a.to_string()),
        "xauth_server": e.xauth_server,
        "xauth_client": e.xauth_client,
        "modecfg_server": e.modecfg_server,
        "modecfg_client": e.modecfg_client,
        "modecfg_dns": e.modecfg_dns.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "modecfg_domains": e.modecfg_domains,
        "addresspool": e.addresspool.map(|r| r.to_string()),
        "updown": e.updown,
    })
}

/// One connection as a JSON object.
pub fn connection_json(c: &Connection) -> Value {
    let pol = &c.policy;
    json!({
        "name": c.name,
        "display_name": c.display_name(),
        "serial": c.serial.0,
        "kind": match c.kind {
            Kind::Permanent => "permanent",
            Kind::Template => "template",
            Kind::Instance { .. } => "instance",
        },
        "instance": c.instance_number(),
        "oriented": c.local.is_some(),
        "local": c.local.map(|s| s.name()),
        "routing": c.routing.keyword(),
        "left": end_json(&c.left),
        "right": end_json(&c.right),
        "policy": {
            "flags": pol.flags(),
            "ike_version": match pol.ike_version { IkeVersion::V1 => 1, IkeVersion::V2 => 2 },
            "authby": pol.authby.keyword(),
            "pfsgroup": pol.pfsgroup,
            "ike": pol.ike,
            "esp": pol.esp,
            "ike_lifetime": pol.ike_lifetime.as_secs(),
            "ipsec_lifetime": pol.ipsec_lifetime.as_secs(),
            "rekey_margin": pol.rekey_margin.as_secs(),
            "rekey_fuzz": pol.rekey_fuzz,
            "keyingtries": pol.keying_tries,
            "metric": pol.metric,
            "nflog_group": pol.nflog_group,
            "conn_mark": pol.conn_mark.map(|m| m.to_string()),
            "dpd_delay": pol.dpd_delay.map(|d| d.as_secs()),
            "dpd_timeout": pol.dpd_timeout.map(|d| d.as_secs()),
            "encapsulation": pol.encapsulation.keyword(),
            "fragmentation": pol.fragmentation.keyword(),
            "nat_keepalive": pol.nat_keepalive,
            "on_traffic": pol.on_traffic.keyword(),
            "failure_shunt": pol.failure_shunt.keyword(),
        },
    })
}

/// `--connectionstatus`.
pub fn connections(p: &Pluto) -> Vec<String> {
    let mut v = vec!["Connection list:".to_string(), String::new()];
    let ifaces = p.addrs_list();
    v.extend(conn::status::connection_list(
        &p.conns,
        p.active_connections(),
        |c| StatusExtra {
            interface: c
                .local_end()
                .and_then(|e| e.host_addr)
                .and_then(|a| ifaces.iter().find(|(_, x)| *x == a))
                .map(|(i, _)| i.as_str()),
            updown: Some(crate::updown::command(
                c.local_end().and_then(|e| e.updown.as_deref()),
                &p.updown_default,
            )),
            ..StatusExtra::default()
        },
    ));
    v
}

fn connections_json(p: &Pluto) -> Value {
    json!({
        "connections": p.conns.iter().map(connection_json).collect::<Vec<_>>(),
        "loaded": p.conns.len(),
        "active": p.active_connections(),
    })
}

/// One established Child SA, as `--trafficstatus` shows it. The negotiation engine
/// fills these; [`traffic_line`] renders libreswan's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficEntry<'a> {
    /// The Child SA's state serial (`#2`).
    pub serial: u64,
    /// The connection's display name (`"west-east"` or `"rw"[1] 192.0.2.9`).
    pub connection: &'a str,
    /// XAUTH user, if any.
    pub username: Option<&'a str>,
    /// `ESP`, `AH` or `IPCOMP`.
    pub sa_type: &'a str,
    /// When the SA was installed, seconds since the epoch.
    pub add_time: u64,
    /// Bytes received.
    pub in_bytes: u64,
    /// Bytes sent.
    pub out_bytes: u64,
    /// Byte lifetime; `None` = unlimited (`2^63B`).
    pub max_bytes: Option<u64>,
    /// The peer's ID.
    pub peer_id: &'a str,
    /// The address leased to the peer, if any.
    pub lease: Option<&'a str>,
}

/// One `--trafficstatus` line, e.g.
/// `#2: "west-east", type=ESP, add_time=1700000000, inBytes=84, outBytes=84, maxBytes=2^63B, id='@east'`.
pub fn traffic_line(e: &TrafficEntry<'_>) -> String {
    let mut s = format!("#{}: {}", e.serial, e.connection);
    if let Some(u) = e.username {
        s.push_str(&format!(", username={u}"));
    }
    s.push_str(&format!(
        ", type={}, add_time={}, inBytes={}, outBytes={}, maxBytes={}, id='{}'",
        e.sa_type,
        e.add_time,
        e.in_bytes,
        e.out_bytes,
        e.max_bytes
            .map(|b| format!("{b}B"))
            .unwrap_or_else(|| "2^63B".into()),
        e.peer_id
    ));
    if let Some(l) = e.lease {
        s.push_str(&format!(", lease={l}"));
    }
    s
}

/// `--trafficstatus`: one line per established Child SA.
pub fn traffic(p: &Pluto) -> Vec<String> {
    p.traffic_lines()
}

/// `--shuntstatus`: libreswan's "Bare Shunt list:", a spacer, then one line per
/// bare (failure) shunt: `192.0.2.1/32 -0-> 192.0.2.2/32 => %pass    oe-failing`.
pub fn shunts(p: &Pluto) -> Vec<String> {
    let mut v = vec!["Bare Shunt list:".to_string(), String::new()];
    v.extend(
        p.bare_shunts()
            .into_iter()
            .map(|s| crate::xfrm::shunt_line(&s.policy, s.why)),
    );
    v
}

fn shunts_json(p: &Pluto) -> Vec<Value> {
    p.routed
        .iter()
        .flat_map(|(name, rt)| {
            rt.shunts.iter().map(move |s| {
                let sel = &s.policy.selector;
                json!({
                    "connection": name,
                    "src": sel.src.to_string(),
                    "dst": sel.dst.to_string(),
                    "protocol": sel.proto,
                    "shunt": crate::xfrm::shunt_name(&s.policy.action),
                    "why": s.why,
                })
            })
        })
        .collect()
}

/// `--addresspoolstatus`: one line per pool configured on a connection.
pub fn address_pools(p: &Pluto) -> Vec<String> {
    pools(p)
        .into_iter()
        .map(|(range, size, conns)| {
            format!(
                "address pool {range}: size: {size}, leases: 0, in-use: 0, free: {size}, reusable: 0; connections: {}",
                conns.join(", ")
            )
        })
        .collect()
}

fn pools(p: &Pluto) -> Vec<(String, u128, Vec<String>)> {
    let mut out: Vec<(String, u128, Vec<String>)> = Vec::new();
    for c in p.conns.iter() {
        for e in [&c.left, &c.right] {
            if let Some(r) = e.addresspool {
                let size = range_size(r.first, r.last);
                let key = r.to_string();
                match out.iter_mut().find(|(k, _, _)| *k == key) {
                    Some((_, _, conns)) => conns.push(c.display_name()),
                    None => out.push((key, size, vec![c.display_name()])),
                }
            }
        }
    }
    out
}

fn range_size(first: IpAddr, last: IpAddr) -> u128 {
    let n = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    n(last).saturating_sub(n(first)).saturating_add(1)
}

/// `--fipsstatus`.
pub fn fips(_p: &Pluto) -> Vec<String> {
    vec!["FIPS mode disabled".to_string()]
}

/// `--processstatus`: facts about the pluto process from /proc.
pub fn process(p: &Pluto) -> Vec<String> {
    let mut v = vec![format!(
        "pluto-rs {}: pid={}, uptime={}s",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        p.uptime().as_secs()
    )];
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        for l in s.lines() {
            let key = l.split(':').next().unwrap_or("");
            if matches!(key, "State" | "Threads" | "VmRSS" | "VmSize" | "VmPeak") {
                v.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    v
}

fn process_json(p: &Pluto) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_seconds": p.uptime().as_secs(),
    })
}

/// `--globalstatus`: `name=value` counters.
pub fn global(p: &Pluto) -> Vec<String> {
    p.global_counters()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn global_json(p: &Pluto) -> Value {
    let m: serde_json::Map<String, Value> = p
        .global_counters()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .chain([("connections".into(), crate::metrics::connections_json(p))])
        .collect();
    Value::Object(m)
}

/// The setup lines at the head of `--status`.
fn setup(p: &Pluto) -> Vec<String> {
    let o = &p.opts;
    let mut v = vec!["using kernel interface: xfrm".to_string(), String::new()];
    for (iface, a) in p.sockets.list() {
        v.push(format!("interface {iface} UDP {}", sock(a.ip(), a.port())));
    }
    v.push(String::new());
    v.push("fips mode=disabled;".to_string());
    v.push(String::new());
    v.push(format!(
        "config setup options: ipsecdir={}, secrets={}, rundir={}, ctlsocket={}",
        o.ipsecdir.display(),
        o.secretsfile.display(),
        o.rundir.display(),
        o.ctlsocket().display()
    ));
    v.push(format!(
        "pluto_version={}, uniqueids={}, ikeport={}, listen={}",
        env!("CARGO_PKG_VERSION"),
        if o.uniqueids { "yes" } else { "no" },
        o.ikeport,
        if p.listening { "yes" } else { "no" }
    ));
    v.push(format!(
        "ddos-mode={}, global-redirect={}, global-redirect-to={}",
        p.ddos.name(),
        p.global_redirect.name(),
        p.global_redirect_to.as_deref().unwrap_or("<unset>")
    ));
    v.push(socket_summary(&p.sockets));
    v.push(format!("debug: {}", p.debug_names()));
    v.push(String::new());
    v.push(format!(
        "nat-traversal: keep-alive={}, nat-ikeport=4500",
        NAT_KEEPALIVE.as_secs()
    ));
    v.push(String::new());
    v
}

/// The IKE socket settings and what the kernel reports for the open sockets
/// (getsockopt): `ike-socket-bufsize=65536 (SO_RCVBUF=131072 SO_SNDBUF=131072 on 2
/// sockets), ike-socket-errqueue=yes (IP_RECVERR on 2 of 2 sockets)`.
pub fn socket_summary(s: &crate::sockets::IkeSockets) -> String {
    let o = s.options();
    let rb = s.readback();
    let range = |v: Vec<u32>| -> String {
        match (v.iter().min(), v.iter().max()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "-".into(),
        }
    };
    let buffers = if rb.is_empty() {
        "no sockets open".to_string()
    } else {
        format!(
            "SO_RCVBUF={} SO_SNDBUF={} on {} sockets",
            range(rb.iter().map(|r| r.rcvbuf).collect()),
            range(rb.iter().map(|r| r.sndbuf).collect()),
            rb.len()
        )
    };
    format!(
        "ike-socket-bufsize={} ({buffers}), ike-socket-errqueue={} (IP_RECVERR on {} of {} sockets)",
        o.bufsize
            .map(|b| b.to_string())
            .unwrap_or_else(|| "default".into()),
        if o.errqueue { "yes" } else { "no" },
        rb.iter().filter(|r| r.errqueue).count(),
        rb.len()
    )
}

/// `addr:port`, with IPv6 addresses bracketed.
pub fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// `--status`: everything.
pub fn all(p: &Pluto) -> Vec<String> {
    let mut v = setup(p);
    v.extend(connections(p));
    v.push(String::new());
    v.extend(brief(p));
    v.push(String::new());
    v.extend(p.state_lines());
    v.push(String::new());
    v.extend(shunts(p));
    v
}

fn all_json(p: &Pluto) -> Value {
    json!({
        "pluto": process_json(p),
        "setup": {
            "ipsecdir": p.opts.ipsecdir.display().to_string(),
            "secretsfile": p.opts.secretsfile.display().to_string(),
            "rundir": p.opts.rundir.display().to_string(),
            "ctlsocket": p.opts.ctlsocket().display().to_string(),
            "ikeport": p.opts.ikeport,
            "uniqueids": p.opts.uniqueids,
            "listening": p.listening,
            "ddos_mode": p.ddos.name(),
            "global_redirect": p.global_redirect.name(),
            "global_redirect_to": p.global_redirect_to,
            "debug": p.debug.iter().collect::<Vec<_>>(),
        },
        "interfaces": p.sockets.list().into_iter().map(|(i, a)| json!({"name": i, "address": a.ip().to_string(), "port": a.port()})).collect::<Vec<_>>(),
        "connections": connections_json(p),
        "brief": brief_json(p),
        "states": p.state_lines(),
        "shunts": shunts_json(p),
    })
}

/// The JSON document for one status form (see docs/whack.md for the schema).
pub fn json_for(p: &Pluto, what: control::request::StatusKind) -> Value {
    use control::request::StatusKind as K;
    match what {
        K::Status => all_json(p),
        K::Global => global_json(p),
        K::Brief => brief_json(p),
        K::Connection => connections_json(p),
        K::Traffic => json!({ "traffic": p.children.iter().map(|(s, c)| json!({
            "serial": s.0, "connection": c.connection, "type": "ESP",
            "add_time": crate::timefmt::unix(c.added), "in_bytes": c.in_bytes,
            "out_bytes": c.out_bytes, "id": c.peer_id,
        })).collect::<Vec<_>>() }),
        K::Shunt => json!({ "shunts": shunts_json(p) }),
        K::AddressPool => json!({
            "address_pools": pools(p).into_iter().map(|(r, size, conns)| json!({
                "range": r, "size": size.to_string(), "leases": 0, "in_use": 0,
                "free": size.to_string(), "connections": conns,
            })).collect::<Vec<_>>()
        }),
        K::Fips => json!({ "fips_mode": false }),
        K::Process => process_json(p),
        K::States => json!({ "states": p.state_lines() }),
    }
}

/// The text lines for one status form.
pub fn text_for(p: &Pluto, what: control::request::StatusKind) -> Vec<String> {
    use control::request::StatusKind as K;
    match what {
        K::Status => all(p),
        K::Global => global(p),
        K::Brief => brief(p),
        K::Connection => connections(p),
        K::Traffic => traffic(p),
        K::Shunt => shunts(p),
        K::AddressPool => address_pools(p),
        K::Fips => fips(p),
        K::Process => process(p),
        K::States => p.state_lines(),
    }
}

impl SaCounts {
    /// All IKE SAs: half-open plus open (authenticated and anonymous classify the
    /// open ones).
    pub fn ike_total(&self) -> u64 {
        self.ike_half_open + self.ike_open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_line_is_libreswans() {
        let e = TrafficEntry {
            serial: 2,
            connection: "\"west-east\"",
            username: None,
            sa_type: "ESP",
            add_time: 1_700_000_000,
            in_bytes: 84,
            out_bytes: 84,
            max_bytes: None,
            peer_id: "@east",
            lease: None,
        };
        assert_eq!(
            traffic_line(&e),
            "#2: \"west-east\", type=ESP, add_time=1700000000, inBytes=84, outBytes=84, maxBytes=2^63B, id='@east'"
        );
        let e = TrafficEntry {
            username: Some("alice"),
            lease: Some("192.0.2.100/32"),
            max_bytes: Some(1000),
            ..e
        };
        assert_eq!(
            traffic_line(&e),
            "#2: \"west-east\", username=alice, type=ESP, add_time=1700000000, inBytes=84, outBytes=84, maxBytes=1000B, id='@east', lease=192.0.2.100/32"
        );
    }

    #[test]
    fn pool_sizes() {
        assert_eq!(
            range_size("192.0.2.10".parse().unwrap(), "192.0.2.20".parse().unwrap()),
            11
        );
        assert_eq!(
            sock("2001:db8::1".parse().unwrap(), 500),
            "[2001:db8::1]:500"
        );
    }
}
