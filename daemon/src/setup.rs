//! `config setup` of ipsec.conf, as pluto's options.
//!
//! Applied where `--config FILE` stands on pluto's command line, as libreswan's
//! pluto does: options before it are overridden by the file, options after it win
//! (`ipsec start` and the service put `--config` first). Each key either sets the
//! option pluto has for it, or is ignored with a warning naming file, line and key
//! when ignoring it cannot weaken what pluto protects (a key pluto-rs cannot honour
//! and whose absence would, such as `listen=`, stops the start with the reason).

use conn::conf::{Config, SetupValue};
use control::request::DdosMode;

use crate::args::{debug_words, parse_count, parse_nhelpers, Options};

/// Keys accepted with a warning: what each would do is not built yet, and
/// without it pluto is no less strict. The text says why it is safe to ignore.
const IGNORED: &[(&str, &str)] = &[
    (
        "ipsecdir",
        "pluto-rs keeps no NSS database or ipsec.d store yet",
    ),
    ("nssdir", "pluto-rs keeps no NSS database"),
    ("crl-strict", "there are no certificates to check yet"),
    ("crlcheckinterval", "there are no certificates to check yet"),
    ("ocsp-enable", "there are no certificates to check yet"),
    ("ocsp-strict", "there are no certificates to check yet"),
    ("ocsp-timeout", "there are no certificates to check yet"),
    ("ocsp-uri", "there are no certificates to check yet"),
    ("ocsp-trustname", "there are no certificates to check yet"),
    ("ocsp-cache-size", "there are no certificates to check yet"),
    (
        "ocsp-cache-min-age",
        "there are no certificates to check yet",
    ),
    (
        "ocsp-cache-max-age",
        "there are no certificates to check yet",
    ),
    ("ocsp-method", "there are no certificates to check yet"),
    ("curl-iface", "nothing is fetched yet"),
    ("curl-timeout", "nothing is fetched yet"),
    ("myvendorid", "no vendor ID of our own is sent"),
    ("statsbin", "no statistics program is run"),
    ("keep-alive", "NAT keepalives are sent every 20 s"),
    (
        "virtual-private",
        "vhost:/vnet: subnets, which use it, are refused",
    ),
    (
        "virtual_private",
        "vhost:/vnet: subnets, which use it, are refused",
    ),
    ("listen-tcp", "IKE over TCP (RFC 8229) is not offered"),
    ("logip", "peer addresses are logged"),
    ("audit-log", "there is no Linux audit log"),
    (
        "dnssec-enable",
        "DNS names are resolved by the system resolver",
    ),
    (
        "dnssec-rootkey-file",
        "DNS names are resolved by the system resolver",
    ),
    (
        "dnssec-anchors",
        "DNS names are resolved by the system resolver",
    ),
    ("seedbits", "the system random source is used as it is"),
    (
        "ike-socket-bufsize",
        "the kernel's default socket buffers are used",
    ),
    ("ike-socket-errqueue", "socket errors are not read"),
    ("ikebuf", "the kernel's default socket buffers are used"),
    ("nflog-all", "no NFLOG group is set up"),
    ("shuntlifetime", "there are no bare shunts yet"),
    ("expire-shunt-interval", "there are no bare shunts yet"),
    ("xfrmlifetime", "larval SAs are not kept"),
    ("drop-oppo-null", "there is no opportunistic encryption yet"),
    (
        "global-redirect",
        "there is no redirect yet (whack refuses it too)",
    ),
    (
        "global-redirect-to",
        "there is no redirect yet (whack refuses it too)",
    ),
    (
        "ipsec-interface-managed",
        "there are no ipsec-interface devices yet",
    ),
];

/// `yes`/`no` as libreswan spells them.
fn yes_no(at: &str, v: &str) -> Result<bool, String> {
    match v {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("{at}: expected yes or no")),
    }
}

/// Applies `cfg`'s `config setup` to `o`. Warnings go to `o.warnings`; a key that
/// cannot be honoured and must not be ignored is an error (pluto does not start).
pub fn apply(o: &mut Options, cfg: &Config) -> Result<(), String> {
    for (key, sv) in &cfg.setup {
        apply_one(o, key, sv)?;
    }
    Ok(())
}

fn apply_one(o: &mut Options, key: &str, sv: &SetupValue) -> Result<(), String> {
    let v = sv.value.trim();
    let at = format!("{}:{}: config setup {key}={v}", sv.path.display(), sv.line);
    let refuse = |why: &str| Err(format!("{at}: {why}"));
    match key {
        "logfile" => o.logfile = Some(v.into()),
        "plutostderrlog" => {
            o.logfile = Some(v.into());
            o.warnings.push(format!(
                "{at}: obsolete; use logfile= (taken as logfile={v})"
            ));
        }
        "logstderr" => o.stderrlog = yes_no(&at, v)?,
        "logtime" => o.log_no_time = !yes_no(&at, v)?,
        "logappend" => o.log_no_append = !yes_no(&at, v)?,
        "plutodebug" => o.debug.extend(debug_words(&at, v)?),
        "uniqueids" => o.uniqueids = yes_no(&at, v)?,
        "ikeport" => {
            o.ikeport = match v.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return refuse("not a port number (1-65535)"),
            }
        }
        "nat-ikeport" => {
            if v != "4500" {
                return refuse(
                    "not supported yet: NAT-T uses port 4500 (or --ikeport + 4000); \
                     remove the key or set it to 4500",
                );
            }
        }
        "interfaces" => {
            let mut names = Vec::new();
            for w in v.split_whitespace() {
                match w {
                    // Every interface with an address: the default.
                    "%defaultroute" | "%any" => names.clear(),
                    w if w.starts_with('%') || w.contains('=') => {
                        return refuse(&format!(
                            "\"{w}\" is not supported (KLIPS-style virtual interfaces do \
                             not exist with XFRM); name the interfaces, or %defaultroute"
                        ))
                    }
                    w => names.push(w.to_string()),
                }
            }
            o.interfaces = names;
        }
        "listen" => {
            return refuse(
                "not supported yet: pluto-rs listens on every address of its interfaces; \
                 restrict them with interfaces= instead",
            )
        }
        "listen-udp" => {
            if !yes_no(&at, v)? {
                return refuse("not supported: IKE over UDP is all pluto-rs speaks");
            }
        }
        "secretsfile" => o.secretsfile = v.into(),
        "rundir" => o.rundir = v.into(),
        "dumpdir" => o.coredir = Some(v.into()),
        "nhelpers" => o.nhelpers = parse_nhelpers(v).map_err(|e| format!("{at}: {e}"))?,
        "ddos-ike-threshold" | "max-halfopen-ike" => {
            let n = parse_count(key, v).map_err(|e| format!("{at}: {e}"))?;
            if key == "ddos-ike-threshold" {
                o.ddos_ike_threshold = n;
            } else {
                o.max_halfopen_ike = n;
            }
        }
        "metrics-listen" => {
            o.metrics_listen = Some(crate::metrics::parse_listen(v).map_err(|e| {
                let e = e.to_string();
                format!("{at}: {}", e.trim_start_matches("--metrics-listen: "))
            })?)
        }
        "ddos-mode" => {
            o.ddos_mode = match v {
                "auto" => DdosMode::Auto,
                "busy" => DdosMode::Busy,
                "unlimited" => DdosMode::Unlimited,
                _ => return refuse("expected auto, busy or unlimited"),
            }
        }
        "ikev1-policy" => match v {
            // pluto-rs has no IKEv1 yet: IKEv1 messages are dropped, as "drop" asks.
            "drop" => {}
            "accept" | "reject" => o.warnings.push(format!(
                "{at}: IKEv1 is not implemented yet; IKEv1 messages are dropped"
            )),
            _ => return refuse("expected accept, reject or drop"),
        },
        "protostack" => {
            if !matches!(v, "xfrm" | "netkey" | "native") {
                return refuse("pluto-rs drives the kernel through XFRM only");
            }
        }
        "seccomp" => match v {
            "disabled" => {}
            "tolerant" => o.warnings.push(format!(
                "{at}: no seccomp filter is installed yet; running without one"
            )),
            _ => {
                return refuse(
                    "not supported yet: pluto-rs installs no seccomp filter; set \
                     seccomp=disabled or remove the key",
                )
            }
        },
        k => match IGNORED.iter().find(|(n, _)| *n == k) {
            Some((_, why)) => o
                .warnings
                .push(format!("{at}: not supported yet; ignored ({why})")),
            // The parser keeps only libreswan's setup keywords; one not handled
            // here is a gap in this table, said as such.
            None => o
                .warnings
                .push(format!("{at}: not supported yet by pluto-rs; ignored")),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::args::{parse_with, Cmd};

    fn setup(text: &str) -> Config {
        Config::parse_str(
            &format!("config setup\n{text}"),
            Path::new("/etc/ipsec.conf"),
        )
        .unwrap()
    }

    /// pluto's options for `args`, `--config` reading `text` as config setup.
    fn opts(args: &str, text: &str) -> Result<Options, String> {
        let cfg = setup(text);
        let read = move |_: &Path| Ok(cfg.clone());
        match parse_with(args.split_whitespace(), &read)? {
            Cmd::Run(o) => Ok(*o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_set_pluto_options() {
        let keys = [
            "logfile=/var/log/pluto.log",
            "logtime=no",
            "logappend=no",
            "plutodebug=\"base crypt\"",
            "uniqueids=yes",
            "ikeport=5000",
            "interfaces=\"eth0 eth1\"",
            "secretsfile=/s",
            "dumpdir=/var/crash",
            "nhelpers=0",
            "ddos-mode=busy",
            "ddos-ike-threshold=100",
            "max-halfopen-ike=200",
            "ikev1-policy=drop",
        ];
        let text: String = keys.iter().map(|k| format!("  {k}\n")).collect();
        let o = opts("--config /etc/ipsec.conf", &text).unwrap();
        assert_eq!(o.logfile.as_deref(), Some(Path::new("/var/log/pluto.log")));
        assert!(o.log_no_time && o.log_no_append && o.uniqueids);
        assert_eq!(o.debug, ["base", "crypt"]);
        assert_eq!(o.ikeport, 5000);
        assert_eq!(o.interfaces, ["eth0", "eth1"]);
        assert_eq!(o.secretsfile, Path::new("/s"));
        assert_eq!(o.coredir.as_deref(), Some(Path::new("/var/crash")));
        assert_eq!(o.nhelpers, Some(0));
        assert_eq!(o.ddos_mode, DdosMode::Busy);
        assert_eq!((o.ddos_ike_threshold, o.max_halfopen_ike), (100, 200));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn metrics_listen_takes_loopback_only() {
        let o = opts("--config /c", "  metrics-listen=127.0.0.1:9100\n").unwrap();
        assert_eq!(o.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        let o = opts("--metrics-listen [::1]:9101", "").unwrap();
        assert_eq!(o.metrics_listen, Some("[::1]:9101".parse().unwrap()));
        let e = opts("--config /c", "  metrics-listen=192.0.2.1:9100\n").unwrap_err();
        assert!(
            e.starts_with("/etc/ipsec.conf:2: config setup metrics-listen=192.0.2.1:9100: 192.0.2.1 is not a loopback address"),
            "{e}"
        );
        let e = opts("--metrics-listen 0.0.0.0:9100", "").unwrap_err();
        assert!(
            e.starts_with("--metrics-listen: 0.0.0.0 is not a loopback"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn options_after_config_win_and_before_it_lose() {
        let text = "  ikeport=5000\n  uniqueids=no\n";
        let o = opts("--ikeport 600 --uniqueids --config /c", text).unwrap();
        assert_eq!((o.ikeport, o.uniqueids), (5000, false));
        let o = opts("--config /c --ikeport 600 --uniqueids", text).unwrap();
        assert_eq!((o.ikeport, o.uniqueids), (600, true));
    }

    #[test]
    fn harmless_unsupported_keys_warn_with_file_and_line() {
        let o = opts(
            "--config /c",
            "  myvendorid=hello\n  ocsp-enable=yes\n  ikev1-policy=accept\n",
        )
        .unwrap();
        assert_eq!(o.warnings.len(), 3, "{:?}", o.warnings);
        assert!(o.warnings.iter().any(|w| w.starts_with(
            "/etc/ipsec.conf:2: config setup myvendorid=hello: not supported yet; ignored"
        )));
        assert!(o
            .warnings
            .iter()
            .any(|w| w.contains("IKEv1 messages are dropped")));
    }

    #[test]
    fn keys_that_would_weaken_pluto_stop_the_start() {
        for (text, says) in [
            ("  listen=192.0.2.1\n", "interfaces= instead"),
            ("  seccomp=enabled\n", "seccomp=disabled"),
            ("  nat-ikeport=4501\n", "4500"),
            ("  interfaces=%none\n", "not supported"),
            ("  interfaces=ipsec0=eth0\n", "KLIPS"),
            ("  uniqueids=perhaps\n", "expected yes or no"),
            ("  ddos-mode=sometimes\n", "auto, busy or unlimited"),
            ("  plutodebug=nope\n", "unknown debug class"),
            (
                "  ddos-ike-threshold=300\n  max-halfopen-ike=200\n",
                "above",
            ),
        ] {
            let e = opts("--config /c", text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = opts("--config /c", "  listen=192.0.2.1\n").unwrap_err();
        assert!(
            e.starts_with("/etc/ipsec.conf:2: config setup listen=192.0.2.1: "),
            "{e}"
        );
    }

    #[test]
    fn an_unreadable_config_stops_the_start() {
        let read = |_: &Path| Err("cannot read: No such file or directory".to_string());
        let e = parse_with(["--config", "/nonexistent"], &read).unwrap_err();
        assert_eq!(
            e,
            "--config /nonexistent: cannot read: No such file or directory"
        );
    }
}
