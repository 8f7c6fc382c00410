//! The status forms: text as libreswan 5 prints it (line for line where scripts
//! parse it), and the `--json` documents described in docs/whack.md.
//!
//! Everything here is a pure function of [`crate::pluto::Pluto`]'s state, so the
//! output is tested without a socket.

use std::net::IpAddr;

use conn::connection::{Connection, End, Kind, Side};
use conn::policy::NAT_KEEPALIVE;
use conn::spec::{Encapsulation, IkeVersion};
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

/// The host part of an end: address (or keyword), `:port` when not 500.
fn host_text(e: &End) -> String {
    let h = match e.host_addr {
        Some(a) => a.to_string(),
        None => e.host.to_string(),
    };
    if e.ikeport != conn::connection::IKE_PORT {
        format!("{h}:{}", e.ikeport)
    } else {
        h
    }
}

/// `[id,+flags]` after the host, as libreswan shows roles.
fn id_text(e: &End) -> String {
    let mut parts = Vec::new();
    if e.id_given {
        parts.push(e.id.to_string());
    }
    let mut flags = String::new();
    if e.modecfg_server {
        flags.push_str("+MS");
    }
    if e.modecfg_client {
        flags.push_str("+MC");
    }
    if e.xauth_server {
        flags.push_str("+XS");
    }
    if e.xauth_client {
        flags.push_str("+XC");
    }
    if !flags.is_empty() {
        parts.push(flags);
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("[{}]", parts.join(","))
    }
}

fn client_text(e: &End) -> Option<String> {
    let pp = e.protoport.map(|p| format!(":{p}")).unwrap_or_default();
    if e.subnets.is_empty() {
        return if pp.is_empty() { None } else { Some(pp) };
    }
    let s: Vec<String> = e.subnets.iter().map(|s| s.to_string()).collect();
    Some(format!("{}{pp}", s.join(",")))
}

/// `client===host[id]---nexthop` for this end.
fn this_end(e: &End) -> String {
    let mut s = String::new();
    if let Some(c) = client_text(e) {
        s.push_str(&c);
        s.push_str("===");
    }
    s.push_str(&host_text(e));
    s.push_str(&id_text(e));
    if let Some(n) = e.nexthop {
        s.push_str(&format!("---{n}"));
    }
    s
}

/// `nexthop---host[id]===client` for that end.
fn that_end(e: &End) -> String {
    let mut s = String::new();
    if let Some(n) = e.nexthop {
        s.push_str(&format!("{n}---"));
    }
    s.push_str(&host_text(e));
    s.push_str(&id_text(e));
    if let Some(c) = client_text(e) {
        s.push_str("===");
        s.push_str(&c);
    }
    s
}

fn sides(c: &Connection) -> (Side, Side) {
    let this = c.local.unwrap_or(Side::Left);
    (this, this.other())
}

fn secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}

fn xauth_role(e: &End) -> &'static str {
    match (e.xauth_server, e.xauth_client) {
        (true, _) => "server",
        (false, true) => "client",
        _ => "none",
    }
}

fn modecfg_role(e: &End) -> &'static str {
    match (e.modecfg_server, e.modecfg_client) {
        (true, _) => "server",
        (false, true) => "client",
        _ => "none",
    }
}

/// The lines `--connectionstatus` prints for one connection.
pub fn connection_lines(c: &Connection) -> Vec<String> {
    let n = c.display_name();
    let (ts, os) = sides(c);
    let (this, that) = (c.end(ts), c.end(os));
    let pol = &c.policy;
    let mut v = Vec::new();
    let ip = |a: Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_else(|| "unset".into());
    v.push(format!(
        "{n}: {}...{}; {}; my_ip={}; their_ip={};",
        this_end(this),
        that_end(that),
        c.routing.keyword(),
        ip(this.sourceip),
        ip(that.sourceip)
    ));
    v.push(match c.local {
        Some(_) => format!(
            "{n}:   host: oriented; local: {}; remote: {};",
            host_text(this),
            host_text(that)
        ),
        None => format!(
            "{n}:   host: unoriented; left: {}; right: {};",
            host_text(&c.left),
            host_text(&c.right)
        ),
    });
    v.push(format!(
        "{n}:   my_updown={};",
        this.updown.as_deref().unwrap_or("%disabled")
    ));
    v.push(format!(
        "{n}:   xauth us:{}, xauth them:{}, my_username={}; their_username={}",
        xauth_role(this),
        xauth_role(that),
        this.xauth_username.as_deref().unwrap_or("[any]"),
        that.xauth_username.as_deref().unwrap_or("[any]")
    ));
    let auth = pol.authby.keyword();
    v.push(format!(
        "{n}:   our auth:{auth}, their auth:{auth}, our autheap:none, their autheap:none;"
    ));
    let dns: Vec<String> = this
        .modecfg_dns
        .iter()
        .chain(that.modecfg_dns.iter())
        .map(|a| a.to_string())
        .collect();
    let domains: Vec<String> = this
        .modecfg_domains
        .iter()
        .chain(that.modecfg_domains.iter())
        .cloned()
        .collect();
    v.push(format!(
        "{n}:   modecfg info: us:{}, them:{}, modecfg policy:{}, dns:{}, domains:{}, cat:unset;",
        modecfg_role(this),
        modecfg_role(that),
        if pol.modecfg_pull { "pull" } else { "push" },
        if dns.is_empty() {
            "unset".into()
        } else {
            dns.join(", ")
        },
        if domains.is_empty() {
            "unset".into()
        } else {
            domains.join(", ")
        }
    ));
    v.push(format!(
        "{n}:   ike_life: {}; ipsec_life: {}; ipsec_max_bytes: 2^63B; ipsec_max_packets: 2^63; rekey_margin: {}; rekey_fuzz: {}%; keyingtries: {};",
        secs(pol.ike_lifetime),
        secs(pol.ipsec_lifetime),
        secs(pol.rekey_margin),
        pol.rekey_fuzz,
        pol.keying_tries
    ));
    v.push(format!("{n}:   policy: {};", pol.flags()));
    if let Some(g) = &pol.pfsgroup {
        v.push(format!("{n}:   pfsgroup: {g};"));
    }
    if pol.ike.is_some() || pol.esp.is_some() {
        v.push(format!(
            "{n}:   ike: {}; esp: {};",
            pol.ike.as_deref().unwrap_or("default"),
            pol.esp.as_deref().unwrap_or("default")
        ));
    }
    v.push(format!(
        "{n}:   metric: {}; nflog-group: {}; mark: {};",
        pol.metric,
        pol.nflog_group
            .map(|g| g.to_string())
            .unwrap_or_else(|| "unset".into()),
        pol.conn_mark
            .map(|m| m.to_string())
            .unwrap_or_else(|| "unset".into())
    ));
    v.push(format!(
        "{n}:   our idtype: {}; our id={}; their idtype: {}; their id={}",
        this.id.type_name(),
        this.id,
        that.id.type_name(),
        that.id
    ));
    v.push(format!(
        "{n}:   sendca: {}; our sendcert: {}; their sendcert: {};",
        this.sendca.keyword(),
        this.sendcert.keyword(),
        that.sendcert.keyword()
    ));
    if this.cert.is_some() || this.ca.is_some() || that.ca.is_some() {
        v.push(format!(
            "{n}:   our cert: {}; our ca: {}; their ca: {};",
            this.cert.as_deref().unwrap_or("unset"),
            this.ca.as_deref().unwrap_or("unset"),
            that.ca.as_deref().unwrap_or("unset")
        ));
    }
    v.push(format!(
        "{n}:   liveness: {}; dpddelay:{}; dpdtimeout:{};",
        if pol.dpd_delay.is_some() {
            "active"
        } else {
            "passive"
        },
        pol.dpd_delay.map(secs).unwrap_or_else(|| "0s".into()),
        pol.dpd_timeout.map(secs).unwrap_or_else(|| "0s".into())
    ));
    v.push(format!(
        "{n}:   nat-traversal: encapsulation:{}; keepalive:{}",
        match pol.encapsulation {
            Encapsulation::Yes => "yes",
            Encapsulation::No => "no",
            Encapsulation::Auto => "auto",
        },
        if pol.nat_keepalive {
            secs(NAT_KEEPALIVE)
        } else {
            "no".into()
        }
    ));
    v.push(format!("{n}:   routing: {};", c.routing.keyword()));
    v.push(format!("{n}:   conn serial: {};", c.serial));
    v
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
    for c in p.conns.iter() {
        v.extend(connection_lines(c));
    }
    if !p.conns.is_empty() {
        v.push(String::new());
    }
    v.push(format!(
        "Total IPsec connections: loaded {}, active {}",
        p.conns.len(),
        p.active_connections()
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

/// `--trafficstatus`: one line per established Child SA; there are none until the
/// negotiation engine lands, so the list is empty.
pub fn traffic(p: &Pluto) -> Vec<String> {
    p.traffic_lines()
}

/// `--shuntstatus`.
pub fn shunts(_p: &Pluto) -> Vec<String> {
    vec!["Bare Shunt list:".to_string(), String::new()]
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
        .collect();
    Value::Object(m)
}

/// The setup lines at the head of `--status`.
fn setup(p: &Pluto) -> Vec<String> {
    let o = &p.opts;
    let mut v = vec!["using kernel interface: xfrm".to_string(), String::new()];
    if p.listening {
        for a in p.addrs_list() {
            v.push(format!("interface {} UDP {}", a.0, sock(a.1, o.ikeport)));
        }
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
    v.push(format!(
        "ike-socket-bufsize={}, ike-socket-errqueue={}",
        p.ike_socket_bufsize
            .map(|b| b.to_string())
            .unwrap_or_else(|| "default".into()),
        if p.ike_socket_errqueue { "yes" } else { "no" }
    ));
    v.push(format!("debug: {}", p.debug_names()));
    v.push(String::new());
    v.push(format!(
        "nat-traversal: keep-alive={}, nat-ikeport=4500",
        NAT_KEEPALIVE.as_secs()
    ));
    v.push(String::new());
    v
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
        "interfaces": if p.listening {
            p.addrs_list().into_iter().map(|(i, a)| json!({"name": i, "address": a.to_string(), "port": p.opts.ikeport})).collect::<Vec<_>>()
        } else { Vec::new() },
        "connections": connections_json(p),
        "brief": brief_json(p),
        "states": Vec::<Value>::new(),
        "shunts": Vec::<Value>::new(),
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
        K::Traffic => json!({ "traffic": Vec::<Value>::new() }),
        K::Shunt => json!({ "shunts": Vec::<Value>::new() }),
        K::AddressPool => json!({
            "address_pools": pools(p).into_iter().map(|(r, size, conns)| json!({
                "range": r, "size": size.to_string(), "leases": 0, "in_use": 0,
                "free": size.to_string(), "connections": conns,
            })).collect::<Vec<_>>()
        }),
        K::Fips => json!({ "fips_mode": false }),
        K::Process => process_json(p),
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
    use conn::connection::HostAddrs;
    use conn::spec::ConnSpec;

    fn conn(f: impl FnOnce(&mut ConnSpec)) -> Connection {
        let mut s = ConnSpec::named("west-east");
        s.left.host = Some("192.0.2.1".into());
        s.left.id = Some("@west".into());
        s.right.host = Some("203.0.113.2".into());
        s.right.id = Some("@east".into());
        s.psk = true;
        f(&mut s);
        let local: IpAddr = "192.0.2.1".parse().unwrap();
        Connection::from_spec(s, &HostAddrs::new([local])).unwrap()
    }

    #[test]
    fn first_line_is_libreswans_topology() {
        let c = conn(|s| {
            s.left.subnets = vec!["198.51.100.0/24".into()];
            s.right.subnets = vec!["203.0.113.128/25".into()];
            s.right.nexthop = Some("203.0.113.254".into());
            s.encrypt = true;
        });
        let l = connection_lines(&c);
        assert_eq!(
            l[0],
            "\"west-east\": 198.51.100.0/24===192.0.2.1[@west]...203.0.113.254---203.0.113.2[@east]===203.0.113.128/25; unrouted; my_ip=unset; their_ip=unset;"
        );
        assert_eq!(
            l[1],
            "\"west-east\":   host: oriented; local: 192.0.2.1; remote: 203.0.113.2;"
        );
        assert!(l.iter().all(|x| x.starts_with("\"west-east\": ")));
        assert!(l.last().unwrap().ends_with("conn serial: $0;"));
    }

    #[test]
    fn unoriented_shows_left_then_right() {
        let mut s = ConnSpec::named("far");
        s.left.host = Some("198.51.100.1".into());
        s.right.host = Some("203.0.113.2".into());
        s.right.ikeport = Some(4500);
        let c = Connection::from_spec(s, &HostAddrs::new([])).unwrap();
        let l = connection_lines(&c);
        assert!(
            l[0].starts_with("\"far\": 198.51.100.1...203.0.113.2:4500; unrouted;"),
            "{}",
            l[0]
        );
        assert_eq!(
            l[1],
            "\"far\":   host: unoriented; left: 198.51.100.1; right: 203.0.113.2:4500;"
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
