//! Progress codes pluto attaches to every line it sends to whack.
//!
//! The numbers are libreswan's (its `enum rc_type`), so that scripts written for
//! libreswan's whack, which test whack's exit status, keep working: whack exits with
//! the code of the last line whose code is at least [`EXIT_FLOOR`] and is not a
//! prompt, or 0 when there is none.

/// A comment: informational output (status text, log lines). Never an exit status.
pub const COMMENT: u32 = 0;
/// A line that is also written to pluto's log. Never an exit status.
pub const LOG: u32 = 2;

/// The lowest code that becomes whack's exit status.
pub const EXIT_FLOOR: u32 = 20;
/// Attempt to reuse a connection name.
pub const DUPNAME: u32 = 20;
/// Connection name (or state number) unknown.
pub const UNKNOWN_NAME: u32 = 21;
/// Cannot orient the connection: neither end is this machine.
pub const ORIENT: u32 = 22;
/// Clash between two road-warrior connections.
pub const CLASH: u32 = 23;
/// pluto is not listening (`--listen` needed before `--initiate`).
pub const DEAF: u32 = 24;
/// Cannot route.
pub const ROUTE: u32 = 25;
/// Cannot unroute: the route is busy.
pub const RTBUSY: u32 = 26;
/// Malformed `--id`.
pub const BADID: u32 = 27;
/// No key found.
pub const NOKEY: u32 = 28;
/// Cannot initiate when the peer's IP address is unknown.
pub const NOPEERIP: u32 = 29;
/// Cannot initiate a shunt-only connection.
pub const INITSHUNT: u32 = 30;
/// Cannot initiate when the ID has wildcards.
pub const WILDCARD: u32 = 31;
/// CRL fetching disabled, or obsolete reread command.
pub const CRLERROR: u32 = 32;
/// A problem detected while handling a whack request (bad value, not supported...).
pub const WHACK_PROBLEM: u32 = 33;

/// pluto prompts for a password (no echo); whack answers with a line.
pub const ENTERSECRET: u32 = 40;
/// pluto prompts for a user name; whack answers with a line.
pub const USERPROMPT: u32 = 41;

/// The whack message could not be understood (bad framing, other protocol version).
pub const BADWHACKMESSAGE: u32 = 50;
/// Negotiation failed without retransmission.
pub const NORETRANSMISSION: u32 = 51;
/// Internal error in pluto.
pub const INTERNAL_ERROR: u32 = 52;
/// Opportunistic negotiation failed.
pub const OPPOFAILURE: u32 = 53;
/// Too busy for the required cryptographic operations.
pub const CRYPTOFAILED: u32 = 54;
/// Several algorithms requested for IKEv1 aggressive mode.
pub const AGGRALGO: u32 = 55;
/// Fatal error; negotiation aborted.
pub const FATAL: u32 = 56;

/// One past the highest exit-status code.
pub const EXIT_ROOF: u32 = 100;

/// libreswan's RC_NOTIFICATION: a negotiation failed with IKE notification `n`
/// (sent or received), reported with code `NOTIFICATION + n` and, as in
/// libreswan's whack, taken as the exit status (e.g. 224 for AUTHENTICATION_FAILED).
pub const NOTIFICATION: u32 = 200;

/// Whether a line with this code is a prompt that whack must answer.
pub fn is_prompt(code: u32) -> bool {
    code == ENTERSECRET || code == USERPROMPT
}

/// Whether a line with this code sets whack's exit status (as opposed to being
/// a comment, a log line, or a prompt).
pub fn sets_exit_status(code: u32) -> bool {
    ((EXIT_FLOOR..EXIT_ROOF).contains(&code) && !is_prompt(code))
        || (NOTIFICATION..=255).contains(&code)
}

/// libreswan's name for a code, for documentation and debugging.
pub fn name(code: u32) -> Option<&'static str> {
    Some(match code {
        COMMENT => "RC_COMMENT",
        LOG => "RC_LOG",
        DUPNAME => "RC_DUPNAME",
        UNKNOWN_NAME => "RC_UNKNOWN_NAME",
        ORIENT => "RC_ORIENT",
        CLASH => "RC_CLASH",
        DEAF => "RC_DEAF",
        ROUTE => "RC_ROUTE",
        RTBUSY => "RC_RTBUSY",
        BADID => "RC_BADID",
        NOKEY => "RC_NOKEY",
        NOPEERIP => "RC_NOPEERIP",
        INITSHUNT => "RC_INITSHUNT",
        WILDCARD => "RC_WILDCARD",
        CRLERROR => "RC_CRLERROR",
        WHACK_PROBLEM => "RC_WHACK_PROBLEM",
        ENTERSECRET => "RC_ENTERSECRET",
        USERPROMPT => "RC_USERPROMPT",
        BADWHACKMESSAGE => "RC_BADWHACKMESSAGE",
        NORETRANSMISSION => "RC_NORETRANSMISSION",
        INTERNAL_ERROR => "RC_INTERNAL_ERROR",
        OPPOFAILURE => "RC_OPPOFAILURE",
        CRYPTOFAILED => "RC_CRYPTOFAILED",
        AGGRALGO => "RC_AGGRALGO",
        FATAL => "RC_FATAL",
        _ => return None,
    })
}

/// Folds a stream of line codes into whack's exit status, as the manual's EXIT
/// STATUS section describes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus(u32);

impl ExitStatus {
    /// Accounts for one received line.
    pub fn observe(&mut self, code: u32) {
        if sets_exit_status(code) {
            self.0 = code;
        }
    }

    /// The status whack exits with.
    pub fn code(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libreswan_numbers() {
        assert_eq!(
            (DUPNAME, UNKNOWN_NAME, DEAF, ROUTE, NOPEERIP, WHACK_PROBLEM),
            (20, 21, 24, 25, 29, 33)
        );
        assert_eq!((BADWHACKMESSAGE, INTERNAL_ERROR), (50, 52));
        assert_eq!((ENTERSECRET, USERPROMPT), (40, 41));
        // RC_NOTIFICATION + n is an exit status, progress codes 100..199 are not.
        assert_eq!(NOTIFICATION, 200);
        assert!(sets_exit_status(NOTIFICATION + 24));
        assert!(!sets_exit_status(100));
    }

    #[test]
    fn exit_status_is_last_non_comment() {
        let mut st = ExitStatus::default();
        st.observe(COMMENT);
        assert_eq!(st.code(), 0);
        st.observe(UNKNOWN_NAME);
        st.observe(COMMENT);
        st.observe(USERPROMPT);
        assert_eq!(st.code(), 21);
        st.observe(DUPNAME);
        assert_eq!(st.code(), 20);
    }

    #[test]
    fn names() {
        assert_eq!(name(21), Some("RC_UNKNOWN_NAME"));
        assert_eq!(name(99), None);
    }
}
