//! The command line of `pluto-loadgen`.

use std::net::IpAddr;
use std::time::Duration;

use ike::ikev2::Identity;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Our address (`--local`): the sockets bind to it, each on its own port.
    pub local: IpAddr,
    /// The responder (`--remote`, `--port`).
    pub remote: IpAddr,
    pub port: u16,
    /// IKE SAs to set up (`--n`).
    pub n: u64,
    /// Setups (IKE_SA_INIT sent, IKE_AUTH not answered yet) in flight at most
    /// (`--limit`), like the load tester's `init_limit`.
    pub limit: u64,
    /// UDP sockets, each with its own source port and IKE endpoint (`--sockets`);
    /// the SAs are spread over them in turn.
    pub sockets: usize,
    /// `ike=` and `esp=` in libreswan's syntax.
    pub ike: String,
    pub esp: String,
    /// The pre-shared key (`--psk`).
    pub psk: String,
    /// Our ID (`--id`; default our address) and the one the responder must prove
    /// (`--remote-id`; default any).
    pub id: Option<Identity>,
    pub remote_id: Option<Identity>,
    /// Delete each IKE SA as soon as it is established (`--delete`), as the load
    /// tester's `delete_after_established`.
    pub delete: bool,
    /// After the setups, keep the SAs and keep answering until killed (`--hold`).
    pub hold: bool,
    /// One key exchange value per group for all SAs (the default); `--fresh-ke`
    /// draws one per SA, as a real initiator does.
    pub reuse_ke: bool,
    /// Give an unanswered request up after this long (`--timeout SECONDS`).
    pub timeout: Duration,
}

/// A command line that cannot be run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("{0} needs a value")]
    Missing(String),
    #[error("{option}: {value:?} is not {what}")]
    Bad {
        option: String,
        value: String,
        what: &'static str,
    },
    #[error("unknown option {0:?}")]
    Unknown(String),
    #[error("{0} is required")]
    Required(&'static str),
    #[error("--n, --limit, --sockets and --timeout must be at least 1")]
    Zero,
    #[error("--delete and --hold exclude each other")]
    DeleteAndHold,
}

pub const USAGE: &str = "pluto-loadgen --local ADDR --remote ADDR --psk KEY [--port 500] \
[--n 1000] [--limit 64] [--sockets 16] [--ike aes128-sha2_256-dh31] [--esp aes_gcm128-none] \
[--id ID] [--remote-id ID] [--delete | --hold] [--fresh-ke] [--timeout SECONDS]";

/// An ID as whack writes it: `@fqdn`, an address, or `user@domain`.
pub fn parse_id(s: &str) -> Option<Identity> {
    if let Some(fqdn) = s.strip_prefix('@') {
        return (!fqdn.is_empty()).then(|| Identity::Fqdn(fqdn.to_owned()));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(Identity::from_addr(a));
    }
    if s.contains('@') {
        return Some(Identity::UserFqdn(s.to_owned()));
    }
    (!s.is_empty()).then(|| Identity::Fqdn(s.to_owned()))
}

pub fn parse(args: &[String]) -> Result<Options, ArgsError> {
    let mut local = None;
    let mut remote = None;
    let mut psk = None;
    let mut o = Options {
        local: IpAddr::from([0, 0, 0, 0]),
        remote: IpAddr::from([0, 0, 0, 0]),
        port: 500,
        n: 1000,
        limit: 64,
        sockets: 16,
        ike: "aes128-sha2_256-dh31".into(),
        esp: "aes_gcm128-none".into(),
        psk: String::new(),
        id: None,
        remote_id: None,
        delete: false,
        hold: false,
        reuse_ke: true,
        timeout: Duration::from_secs(30),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let opt = a.as_str();
        let mut value = || it.next().cloned().ok_or(ArgsError::Missing(a.clone()));
        let bad = |value: String, what| ArgsError::Bad {
            option: a.clone(),
            value,
            what,
        };
        match opt {
            "--local" | "--remote" => {
                let v = value()?;
                let addr: IpAddr = v.parse().map_err(|_| bad(v, "an IP address"))?;
                if opt == "--local" {
                    local = Some(addr);
                } else {
                    remote = Some(addr);
                }
            }
            "--port" => {
                let v = value()?;
                o.port = v.parse().map_err(|_| bad(v, "a port"))?;
            }
            "--n" | "--limit" | "--timeout" => {
                let v = value()?;
                let x: u64 = v.parse().map_err(|_| bad(v, "a number"))?;
                match opt {
                    "--n" => o.n = x,
                    "--limit" => o.limit = x,
                    _ => o.timeout = Duration::from_secs(x),
                }
            }
            "--sockets" => {
                let v = value()?;
                o.sockets = v.parse().map_err(|_| bad(v, "a number"))?;
            }
            "--ike" => o.ike = value()?,
            "--esp" => o.esp = value()?,
            "--psk" => psk = Some(value()?),
            "--id" | "--remote-id" => {
                let v = value()?;
                let id = parse_id(&v).ok_or_else(|| bad(v, "an ID"))?;
                if opt == "--id" {
                    o.id = Some(id);
                } else {
                    o.remote_id = Some(id);
                }
            }
            "--delete" => o.delete = true,
            "--hold" => o.hold = true,
            "--fresh-ke" => o.reuse_ke = false,
            _ => return Err(ArgsError::Unknown(a.clone())),
        }
    }
    o.local = local.ok_or(ArgsError::Required("--local"))?;
    o.remote = remote.ok_or(ArgsError::Required("--remote"))?;
    o.psk = psk.ok_or(ArgsError::Required("--psk"))?;
    if o.n == 0 || o.limit == 0 || o.sockets == 0 || o.timeout.is_zero() {
        return Err(ArgsError::Zero);
    }
    if o.delete && o.hold {
        return Err(ArgsError::DeleteAndHold);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    const BASE: &str = "--local 192.0.2.1 --remote 192.0.2.2 --psk k";

    #[test]
    fn defaults_and_every_option() {
        let o = parse(&args(BASE)).unwrap();
        assert_eq!(o.local, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((o.port, o.n, o.limit, o.sockets), (500, 1000, 64, 16));
        assert_eq!((o.delete, o.hold, o.reuse_ke), (false, false, true));
        assert_eq!(o.ike, "aes128-sha2_256-dh31");
        let o = parse(&args(&format!(
            "{BASE} --port 4501 --n 3000 --limit 256 --sockets 4 --ike aes128-sha2_256-dh19 \
             --esp aes_gcm256-none --id @lg.example --remote-id @srv.strongswan.org --delete \
             --fresh-ke --timeout 5"
        )))
        .unwrap();
        assert_eq!((o.port, o.n, o.limit, o.sockets), (4501, 3000, 256, 4));
        assert_eq!(
            (o.ike.as_str(), o.esp.as_str()),
            ("aes128-sha2_256-dh19", "aes_gcm256-none")
        );
        assert_eq!(o.id, Some(Identity::Fqdn("lg.example".into())));
        assert_eq!(
            o.remote_id,
            Some(Identity::Fqdn("srv.strongswan.org".into()))
        );
        assert!(o.delete && !o.reuse_ke);
        assert_eq!(o.timeout, Duration::from_secs(5));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse(&args("--remote 192.0.2.2 --psk k")),
            Err(ArgsError::Required("--local"))
        );
        assert_eq!(
            parse(&args("--local 192.0.2.1 --remote 192.0.2.2")),
            Err(ArgsError::Required("--psk"))
        );
        assert!(matches!(
            parse(&args(&format!("{BASE} --n many"))),
            Err(ArgsError::Bad { .. })
        ));
        assert!(matches!(
            parse(&args("--local west --remote 192.0.2.2 --psk k")),
            Err(ArgsError::Bad { .. })
        ));
        assert_eq!(
            parse(&args(&format!("{BASE} --limit"))),
            Err(ArgsError::Missing("--limit".into()))
        );
        assert_eq!(parse(&args(&format!("{BASE} --n 0"))), Err(ArgsError::Zero));
        assert_eq!(
            parse(&args(&format!("{BASE} --sockets 0"))),
            Err(ArgsError::Zero)
        );
        assert_eq!(
            parse(&args(&format!("{BASE} --delete --hold"))),
            Err(ArgsError::DeleteAndHold)
        );
        assert_eq!(
            parse(&args(&format!("{BASE} --fast"))),
            Err(ArgsError::Unknown("--fast".into()))
        );
        assert!(matches!(
            parse(&args(&format!("{BASE} --id @"))),
            Err(ArgsError::Bad { .. })
        ));
    }

    #[test]
    fn ids_as_whack_writes_them() {
        assert_eq!(parse_id("@east"), Some(Identity::Fqdn("east".into())));
        assert_eq!(
            parse_id("192.0.2.1"),
            Some(Identity::from_addr("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            parse_id("a@b.example"),
            Some(Identity::UserFqdn("a@b.example".into()))
        );
        assert_eq!(
            parse_id("east.example"),
            Some(Identity::Fqdn("east.example".into()))
        );
        assert_eq!(parse_id(""), None);
    }
}
