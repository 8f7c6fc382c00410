//! The list forms (`--list*`) and the reread forms (`--reread*`, `--fetchcrls`),
//! with `--ddns` and `--purgeocsp`. ipsec.secrets is read off the main loop
//! (`crate::secrets_load`).

use control::rc;
use control::request::{ListKind, RereadKind};
use control::server::Responder;

use crate::pluto::Pluto;
use crate::timefmt;

impl Pluto {
    pub(crate) fn list(
        &mut self,
        what: ListKind,
        utc: bool,
        as_json: bool,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let pubkeys = matches!(
            what,
            ListKind::PubKeys | ListKind::All | ListKind::CheckPubKeys
        );
        if as_json {
            let keys: Vec<serde_json::Value> = self
                .keys
                .iter()
                .flat_map(|(id, ks)| {
                    ks.iter().map(move |k| {
                        serde_json::json!({
                            "id": id,
                            "type": "RSA",
                            "installed": timefmt::unix(k.installed),
                            "key_prefix": k.text.chars().take(12).collect::<String>(),
                        })
                    })
                })
                .collect();
            let mut doc = serde_json::Map::new();
            if pubkeys && what != ListKind::CheckPubKeys {
                doc.insert("pubkeys".into(), keys.into());
            }
            if what == ListKind::CheckPubKeys {
                doc.insert("expiring_pubkeys".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::Certs | ListKind::All) {
                doc.insert("certs".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::CaCerts | ListKind::All) {
                doc.insert("cacerts".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::Crls | ListKind::All) {
                doc.insert("crls".into(), serde_json::json!([]));
            }
            let key = match what {
                ListKind::PubKeys => "listpubkeys",
                ListKind::CheckPubKeys => "checkpubkeys",
                ListKind::Certs => "listcerts",
                ListKind::CaCerts => "listcacerts",
                ListKind::Crls => "listcrls",
                ListKind::All => "listall",
            };
            json.insert(key.into(), serde_json::Value::Object(doc));
            return;
        }
        if what == ListKind::CheckPubKeys {
            r.comment("List of Public Keys which will expire in the next 1 days:");
            r.comment("");
            return;
        }
        if pubkeys {
            r.comment("List of Public Keys:");
            r.comment("");
            for (id, ks) in &self.keys {
                let idtype = conn::id::Id::parse(id)
                    .map(|i| i.type_name())
                    .unwrap_or("ID_NONE");
                for k in ks {
                    r.comment(format!(
                        "{}, RSA Key {} (no private key), until --- -- --:--:-- ---- ok (expires never)",
                        timefmt::civil(k.installed, utc),
                        k.text.chars().skip(2).take(9).collect::<String>()
                    ));
                    r.comment(format!("       {idtype} '{id}'"));
                }
            }
        }
        let none = "(none: X.509 certificate support is not implemented yet in pluto-rs)";
        if matches!(what, ListKind::Certs | ListKind::All) {
            r.comment("List of X.509 End Certificates:");
            r.comment("");
            r.comment(none);
        }
        if matches!(what, ListKind::CaCerts | ListKind::All) {
            r.comment("List of X.509 CA Certificates:");
            r.comment("");
            r.comment(none);
        }
        if matches!(what, ListKind::Crls | ListKind::All) {
            r.comment("List of CRLs:");
            r.comment("");
            r.comment(none);
        }
    }

    /// `--rereadsecrets`, `--rereadall`, `--fetchcrls`, `--rereadcrls`.
    pub(crate) fn reread_form(&mut self, what: RereadKind, r: &mut Responder) {
        match what {
            RereadKind::Secrets => self.reread_secrets(r, true),
            RereadKind::Crls => r.line(
                rc::CRLERROR,
                "--rereadcrls: obsolete (as in libreswan); CRLs are fetched with --fetchcrls",
            ),
            RereadKind::FetchCrls => r.line(
                rc::CRLERROR,
                "--fetchcrls: X.509 CRLs are not supported by pluto-rs yet",
            ),
            RereadKind::All => {
                // Said first: the secrets' result comes once they are read.
                r.comment("no CRLs to reread (X.509 CRL support is not implemented yet)");
                self.reread_secrets(r, true);
            }
        }
    }

    /// `--ddns`: connections whose host names did not resolve are tried again.
    pub(crate) fn ddns_form(&mut self, r: &mut Responder) {
        let msgs = self.resolve_dns_hosts();
        if msgs.is_empty() {
            r.comment("no connections with unresolved DNS host names");
        }
        for (ok, m) in msgs {
            r.line(if ok { rc::COMMENT } else { rc::WHACK_PROBLEM }, m);
        }
    }

    /// Asks for ipsec.secrets to be read again (off the main loop: the request
    /// is parked after this part, see [`crate::secrets_load`]). With `strict`, a
    /// failure sets whack's exit status.
    pub(crate) fn reread_secrets(&mut self, r: &mut Responder, strict: bool) {
        r.comment(format!(
            "loading secrets from \"{}\"",
            self.opts.secretsfile.display()
        ));
        self.secrets_wanted = Some(strict);
    }

    /// Applies (or reports the failure of) a read of ipsec.secrets.
    pub(crate) fn apply_secrets(
        &mut self,
        l: crate::secrets_load::Loaded,
        r: &mut Responder,
        strict: bool,
    ) {
        use crate::secrets_load::{Outcome, READ_LIMIT};
        let path = self.opts.secretsfile.display().to_string();
        let problem = match l.outcome {
            Outcome::Read(Ok(s)) => {
                let n = s.len();
                if self.loads.newest(l.id) {
                    self.secrets = s;
                    tracing::info!("loaded {n} secrets from \"{path}\"");
                    r.comment(format!("loaded {n} secrets"));
                } else {
                    r.comment(format!(
                        "read {n} secrets, but a later reread already replaced them; not applied"
                    ));
                }
                return;
            }
            Outcome::Read(Err(e)) => e.to_string(),
            Outcome::TimedOut => format!(
                "reading \"{path}\" did not finish within {}s",
                READ_LIMIT.as_secs()
            ),
            Outcome::Failed(e) => format!("reading \"{path}\" failed: {e}"),
        };
        tracing::warn!("{problem}");
        r.line(
            if strict {
                rc::WHACK_PROBLEM
            } else {
                rc::COMMENT
            },
            format!(
                "{problem}; keeping the {} secrets loaded before",
                self.secrets.len()
            ),
        );
    }
}

/// `--purgeocsp`.
pub(crate) fn purge_ocsp_form(r: &mut Responder) {
    r.line(
        rc::WHACK_PROBLEM,
        "--purgeocsp: OCSP is not supported by pluto-rs yet; there is no OCSP cache to purge",
    );
}
