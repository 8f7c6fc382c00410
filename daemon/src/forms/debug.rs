//! The debug and impair forms (`--debug`, `--no-debug`, `--impair`,
//! `--no-impair`), global or per connection.

use std::collections::BTreeSet;

use control::request::{DebugChange, ImpairChange};
use control::server::Responder;
use control::{classes, rc};

use crate::pluto::Pluto;

impl Pluto {
    pub(crate) fn debug(&mut self, name: Option<&str>, changes: &[DebugChange], r: &mut Responder) {
        if let Some(n) = name {
            if !self.known(n, r) {
                return;
            }
        }
        for ch in changes {
            if *ch == DebugChange::Help {
                r.comment(
                    "debug options (prefix with no- to disable; 'none' and 'all' also accepted):",
                );
                for c in classes::DEBUG_CLASSES {
                    r.comment(format!("  {:<12} {}", c.name, c.help));
                }
                continue;
            }
            if let Some(c) = changed_class(ch) {
                if classes::debug_class(c).is_none() {
                    r.line(rc::WHACK_PROBLEM, format!("unknown debug class \"{c}\""));
                    return;
                }
            }
            match name {
                Some(n) => apply_debug(self.conn_debug.entry(n.to_string()).or_default(), ch),
                None => apply_debug(&mut self.debug, ch),
            }
        }
        if let Some(hook) = &self.debug_hook {
            hook(!self.debug.is_empty() || self.conn_debug.values().any(|s| !s.is_empty()));
        }
        let changed = changes.iter().any(|c| *c != DebugChange::Help);
        if changed {
            match name {
                Some(n) => {
                    let set = self.conn_debug.get(n).cloned().unwrap_or_default();
                    let s = if set.is_empty() {
                        "none".to_string()
                    } else {
                        set.into_iter().collect::<Vec<_>>().join("+")
                    };
                    r.comment(format!("\"{n}\": debug={s}"));
                }
                None => r.comment(format!("debug={}", self.debug_names())),
            }
        }
    }

    pub(crate) fn impair(
        &mut self,
        name: Option<&str>,
        changes: &[ImpairChange],
        r: &mut Responder,
    ) {
        if let Some(n) = name {
            if !self.known(n, r) {
                return;
            }
        }
        let key = name.unwrap_or("").to_string();
        for ch in changes {
            match ch {
                ImpairChange::Help => {
                    r.comment(
                        "pluto-rs implements none of libreswan's impairments (testing hooks); whack knows their names:",
                    );
                    for c in classes::IMPAIRMENTS {
                        r.comment(format!("  {:<22} {}", c.name, c.help));
                    }
                }
                ImpairChange::List => {
                    let set = self.impair.get(&key);
                    if set.is_none_or(|s| s.is_empty()) {
                        r.comment("no impairments");
                    }
                    for (b, how) in set.into_iter().flatten() {
                        match how {
                            Some(h) => r.comment(format!("{b}: {h}")),
                            None => r.comment(format!("{b}: yes")),
                        }
                    }
                }
                ImpairChange::None => {
                    self.impair.remove(&key);
                }
                ImpairChange::Set { behaviour, .. } => {
                    // Recording an impairment nothing consults would be a lie.
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--impair {behaviour}: impairments are not implemented by pluto-rs; nothing was changed"),
                    );
                    return;
                }
                ImpairChange::Clear(b) => {
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--no-impair {b}: impairments are not implemented by pluto-rs; none is set"),
                    );
                    return;
                }
            }
        }
    }
}

fn changed_class(ch: &DebugChange) -> Option<&str> {
    match ch {
        DebugChange::Enable(c) | DebugChange::Disable(c) => Some(c),
        _ => None,
    }
}

pub(crate) fn apply_debug(set: &mut BTreeSet<String>, ch: &DebugChange) {
    match ch {
        DebugChange::Help => {}
        DebugChange::None => set.clear(),
        DebugChange::All => {
            for c in classes::DEBUG_CLASSES {
                if c.name != "private" {
                    set.insert(c.name.to_string());
                }
            }
        }
        DebugChange::Enable(c) => {
            set.insert(c.clone());
        }
        DebugChange::Disable(c) => {
            set.remove(c);
        }
    }
}
