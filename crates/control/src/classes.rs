//! The debug classes and impairments pluto knows, shared by whack (to reject an
//! unknown name locally, without contacting pluto) and pluto (to answer `help`).

/// A named debug class with its one-line description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// Name as typed after `--debug` (without any `no-` prefix).
    pub name: &'static str,
    /// What turning it on logs.
    pub help: &'static str,
}

/// The debug classes; `all` and `none` are handled as keywords on top of these.
pub const DEBUG_CLASSES: &[Class] = &[
    Class {
        name: "base",
        help: "general debugging: state transitions, parsing, decisions",
    },
    Class {
        name: "cpu-usage",
        help: "time spent in expensive operations",
    },
    Class {
        name: "crypt",
        help: "cryptographic computations (not key material unless 'private')",
    },
    Class {
        name: "routing",
        help: "connection routing and kernel policy changes",
    },
    Class {
        name: "tmi",
        help: "too much information: very verbose internal detail",
    },
    Class {
        name: "whackwatch",
        help: "log control-socket requests and their replies",
    },
    Class {
        name: "add-prefix",
        help: "prefix debug lines with the connection/state they concern",
    },
    Class {
        name: "private",
        help: "allow secrets (keys, nonces) in debug output; never in production",
    },
];

/// libreswan's impairments (deliberate misbehaviour for testing), by name. whack
/// refuses names outside this list; pluto-rs implements none of them and refuses to
/// set or clear any (`--impair help`, `list` and `none` are answered).
pub const IMPAIRMENTS: &[Class] = &[
    Class {
        name: "revival",
        help: "do not revive connections whose SAs were deleted",
    },
    Class {
        name: "send-no-delete",
        help: "do not send a Delete notification when deleting an SA",
    },
    Class {
        name: "send-no-ikev2-auth",
        help: "omit the AUTH payload from IKE_AUTH",
    },
    Class {
        name: "drop-i1",
        help: "drop the first message received from an initiator",
    },
    Class {
        name: "drop-i2",
        help: "drop the second message received from an initiator",
    },
    Class {
        name: "timeout-on-retransmit",
        help: "give up at the first retransmit instead of retrying",
    },
    Class {
        name: "ke-payload",
        help: "corrupt the KE payload (how: omit, empty, 0, or a byte value)",
    },
    Class {
        name: "force-fips",
        help: "behave as though FIPS mode were enabled",
    },
];

/// Looks up a debug class by name.
pub fn debug_class(name: &str) -> Option<&'static Class> {
    DEBUG_CLASSES.iter().find(|c| c.name == name)
}

/// Looks up an impairment by name.
pub fn impairment(name: &str) -> Option<&'static Class> {
    IMPAIRMENTS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert!(debug_class("base").is_some());
        assert!(debug_class("cpu-usage").is_some());
        assert!(debug_class("bogus").is_none());
        assert!(impairment("revival").is_some());
        assert!(impairment("none").is_none());
    }
}
