//! The connection form (`--name ... --to ...`: add a connection), the public
//! key form (`--keyid`) and the delete form (`--delete`).

use std::time::SystemTime;

use conn::connection::Kind;
use conn::db::DbError;
use control::rc;
use control::server::Responder;

use crate::pluto::{Pluto, PubKey};

impl Pluto {
    pub(crate) fn add_connection(&mut self, spec: &control::ConnSpec, r: &mut Responder) {
        let host = self.host_addrs();
        let name = spec.name.clone();
        match self.conns.add(spec.clone(), &host) {
            Ok(serial) => {
                let unresolved = self
                    .conns
                    .get(serial)
                    .is_some_and(|c| !c.unresolved_dns_hosts().is_empty());
                let resolved = if unresolved {
                    self.resolve_dns_hosts()
                } else {
                    Vec::new()
                };
                let c = self.conns.get(serial);
                let v = match c.map(|c| c.policy.ike_version) {
                    Some(conn::spec::IkeVersion::V1) => "IKEv1",
                    _ => "IKEv2",
                };
                let kind = match c.map(|c| c.kind) {
                    Some(Kind::Template) => " template",
                    _ => "",
                };
                tracing::info!("added {v}{kind} connection \"{name}\"");
                r.comment(format!("added {v}{kind} connection \"{name}\""));
                for (_, m) in resolved {
                    r.comment(m);
                }
                for w in c.map(|c| c.warnings.clone()).unwrap_or_default() {
                    r.comment(format!("\"{name}\": warning: {w}"));
                }
                if c.is_some_and(|c| !c.is_oriented()) {
                    r.comment(format!(
                        "\"{name}\": neither end is an address of this machine; the connection stays unoriented until one is"
                    ));
                }
            }
            Err(DbError::Duplicate(_)) => {
                r.line(
                    rc::DUPNAME,
                    format!("attempt to redefine connection \"{name}\"; delete it first (whack --delete --name {name})"),
                );
            }
            Err(DbError::Unknown(n)) => {
                r.line(rc::UNKNOWN_NAME, format!("no connection named \"{n}\""));
            }
            Err(DbError::Invalid(e)) => {
                let code = match &e {
                    conn::connection::ConnError::Invalid { option, .. }
                        if option.ends_with(" id") =>
                    {
                        rc::BADID
                    }
                    _ => rc::WHACK_PROBLEM,
                };
                tracing::warn!("\"{name}\": failed to add connection: {e}");
                r.line(code, format!("\"{name}\": failed to add connection: {e}"));
            }
        }
    }

    /// `--delete`: the SAs and trap policies go first, as libreswan does, then
    /// the connection.
    pub(crate) async fn delete_form(&mut self, name: &str, r: &mut Responder) {
        self.keep_up.remove(name);
        if self.conns.find(name).is_some() {
            let n = self.down(name);
            if n > 0 {
                r.comment(format!(
                    "\"{name}\": deleting {n} IKE SAs of the connection"
                ));
            }
            self.unroute(name).await;
            self.abandon_waiters(name, &format!("\"{name}\": connection deleted"));
            self.pump().await;
        }
        self.delete_connection(name, r)
    }

    pub(crate) fn delete_connection(&mut self, name: &str, r: &mut Responder) {
        match self.conns.delete(name) {
            Ok(gone) => {
                self.conn_debug.remove(name);
                self.impair.remove(name);
                for c in gone {
                    tracing::info!("{}: deleting connection", c.display_name());
                    r.comment(format!("{}: deleting connection", c.display_name()));
                }
            }
            Err(_) => {
                r.line(
                    rc::UNKNOWN_NAME,
                    format!("no connection or alias named \"{name}\""),
                );
            }
        }
    }

    pub(crate) fn key(&mut self, keyid: &str, add: bool, key: Option<&str>, r: &mut Responder) {
        if let Err(e) = conn::id::Id::parse(keyid) {
            r.line(rc::BADID, format!("--keyid \"{keyid}\": {e}"));
            return;
        }
        let Some(text) = key else {
            let n = self.keys.remove(keyid).map(|v| v.len()).unwrap_or(0);
            r.comment(format!("deleted {n} public keys of '{keyid}'"));
            return;
        };
        let valid = if let Some(b) = text.strip_prefix("0s") {
            !b.is_empty()
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
        } else if let Some(h) = text.strip_prefix("0x") {
            !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit() || c == b'_')
        } else {
            false
        };
        if !valid {
            r.line(
                rc::WHACK_PROBLEM,
                format!("--pubkeyrsa for '{keyid}': not a key in 0s (base64) or 0x (hex) form"),
            );
            return;
        }
        let entry = self.keys.entry(keyid.to_string()).or_default();
        if !add {
            entry.clear();
        }
        entry.push(PubKey {
            text: text.to_string(),
            installed: SystemTime::now(),
        });
        r.comment(format!(
            "{} RSA public key for '{keyid}'",
            if add { "added" } else { "replaced" }
        ));
    }
}
