//! What whack asks pluto to do: one [`Request`] per form of ipsec-whack(8).
//!
//! A single whack invocation may carry several requests (for example `--listen
//! --status`, or a connection form followed by `--initiate`); they travel together
//! in one [`crate::Envelope`] and pluto carries them out in order.

use serde::{Deserialize, Serialize};

use crate::Secret;

/// Which kind of SA a rekey/delete/down request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaKind {
    /// The IKE SA (`--rekey-ike`, `--delete-ike`, `--down-ike`).
    Ike,
    /// The Child (IPsec) SA (`--rekey-child`, `--delete-child`, `--down-child`).
    Child,
}

impl SaKind {
    /// "IKE" or "Child", as libreswan logs them.
    pub fn label(self) -> &'static str {
        match self {
            SaKind::Ike => "IKE",
            SaKind::Child => "Child",
        }
    }
}

/// `--ddos-auto | --ddos-busy | --ddos-unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DdosMode {
    /// Switch DDoS protection on and off by the number of half-open states.
    Auto,
    /// Always behave as under attack (require cookies).
    Busy,
    /// Never behave as under attack.
    Unlimited,
}

impl DdosMode {
    /// The name used in status output (`ddos-mode=auto`).
    pub fn name(self) -> &'static str {
        match self {
            DdosMode::Auto => "auto",
            DdosMode::Busy => "busy",
            DdosMode::Unlimited => "unlimited",
        }
    }
}

/// `--global-redirect yes|no|auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectMode {
    /// Redirect every new IKE_SA_INIT.
    Yes,
    /// Never redirect.
    No,
    /// Redirect when under DDoS load.
    Auto,
}

impl RedirectMode {
    /// The keyword as typed and shown in status.
    pub fn name(self) -> &'static str {
        match self {
            RedirectMode::Yes => "yes",
            RedirectMode::No => "no",
            RedirectMode::Auto => "auto",
        }
    }
}

/// The IP version named by `--tunnelipv4`/`--tunnelipv6` (or `--ipv4`/`--ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// One change to the debug classes, in the order given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DebugChange {
    /// `--debug help`: list the classes.
    Help,
    /// `--debug none`: clear every class.
    None,
    /// `--debug all`: set every class except `private`.
    All,
    /// `--debug CLASS`.
    Enable(String),
    /// `--no-debug CLASS` or `--debug no-CLASS`.
    Disable(String),
}

/// One change to the impairments, in the order given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImpairChange {
    /// `--impair help`: describe every impairment.
    Help,
    /// `--impair list`: list the impairments currently set.
    List,
    /// `--impair none`: clear every impairment.
    None,
    /// `--impair BEHAVIOUR[:HOW]`.
    Set {
        /// The impairment's name.
        behaviour: String,
        /// Its argument, if any (`:how`).
        how: Option<String>,
    },
    /// `--no-impair BEHAVIOUR`.
    Clear(String),
}

/// The list forms (`--listpubkeys`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListKind {
    /// `--listpubkeys`.
    PubKeys,
    /// `--listcerts`.
    Certs,
    /// `--checkpubkeys`: public keys that are about to expire.
    CheckPubKeys,
    /// `--listcacerts`.
    CaCerts,
    /// `--listcrls`.
    Crls,
    /// `--listall`: every list above.
    All,
}

/// The reread forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RereadKind {
    /// `--rereadsecrets`: reload ipsec.secrets.
    Secrets,
    /// `--rereadcrls`: obsolete in libreswan; answered with RC_CRLERROR.
    Crls,
    /// `--fetchcrls`: fetch CRLs from their distribution points now.
    FetchCrls,
    /// `--rereadall`: secrets and CRLs.
    All,
}

/// The status forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusKind {
    /// `--status`: everything.
    Status,
    /// `--globalstatus`: the counters.
    Global,
    /// `--briefstatus`: the SA totals.
    Brief,
    /// `--connectionstatus`: the connection list.
    Connection,
    /// `--trafficstatus`: one line per established Child SA.
    Traffic,
    /// `--shuntstatus`: bare shunts.
    Shunt,
    /// `--addresspoolstatus`: address pools.
    AddressPool,
    /// `--fipsstatus`: FIPS mode.
    Fips,
    /// `--processstatus`: the pluto process.
    Process,
    /// `--showstates` (libreswan 5, outside the manual): the IKE and Child SA state
    /// lines of `--status`, alone.
    States,
}

impl StatusKind {
    /// The option that asks for this form, without `--`.
    pub fn option(self) -> &'static str {
        match self {
            StatusKind::Status => "status",
            StatusKind::Global => "globalstatus",
            StatusKind::Brief => "briefstatus",
            StatusKind::Connection => "connectionstatus",
            StatusKind::Traffic => "trafficstatus",
            StatusKind::Shunt => "shuntstatus",
            StatusKind::AddressPool => "addresspoolstatus",
            StatusKind::Fips => "fipsstatus",
            StatusKind::Process => "processstatus",
            StatusKind::States => "showstates",
        }
    }
}

/// `--oppohere ... --oppoproto`: pretend traffic was caught, for debugging
/// opportunistic encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OppoTrigger {
    /// `--tunnelipv4`/`--tunnelipv6`, if given.
    pub ip_version: Option<IpVersion>,
    /// `--oppohere`: the local address.
    pub here: std::net::IpAddr,
    /// `--oppothere`: the remote address.
    pub there: std::net::IpAddr,
    /// `--opposport`.
    pub sport: u16,
    /// `--oppodport`.
    pub dport: u16,
    /// `--oppoproto` as an IP protocol number.
    pub proto: u8,
}

/// One thing whack asks of pluto.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// The connection form: add a connection description.
    AddConnection {
        /// The description, both ends and the policy.
        spec: Box<crate::ConnSpec>,
    },
    /// The key form: `--keyid ID [--addkey] [--pubkeyrsa KEY]`.
    Key {
        /// `--keyid`: the peer ID the key belongs to.
        keyid: String,
        /// `--addkey`: add to the keys already known for the ID instead of replacing.
        add: bool,
        /// `--pubkeyrsa`: the key (`0s...` base64 or `0x...` hex); none deletes.
        pubkey_rsa: Option<String>,
    },
    /// `--listen`.
    Listen,
    /// `--unlisten`.
    Unlisten,
    /// `--ddos-auto|--ddos-busy|--ddos-unlimited`.
    Ddos {
        /// The requested mode.
        mode: DdosMode,
    },
    /// `--route --name`.
    Route {
        /// Connection name.
        name: String,
    },
    /// `--unroute --name`.
    Unroute {
        /// Connection name.
        name: String,
    },
    /// `--initiate --name`.
    Initiate {
        /// Connection name.
        name: String,
        /// `--remote-host`: the peer address for a connection with `%any` remote.
        remote_host: Option<String>,
        /// `--xauthuser`.
        xauth_user: Option<String>,
        /// `--xauthpass`.
        xauth_pass: Option<Secret>,
        /// `--asynchronous`: do not wait for the outcome.
        asynchronous: bool,
    },
    /// `--down --name`: delete the connection's SAs, keep the connection.
    Down {
        /// Connection name.
        name: String,
        /// `--asynchronous`.
        asynchronous: bool,
    },
    /// `--rekey-ike | --rekey-child`.
    Rekey {
        /// Connection name.
        name: String,
        /// Which SA.
        sa: SaKind,
        /// `--asynchronous`.
        asynchronous: bool,
    },
    /// `--delete-ike | --delete-child`.
    DeleteSa {
        /// Connection name.
        name: String,
        /// Which SA.
        sa: SaKind,
        /// `--asynchronous`.
        asynchronous: bool,
    },
    /// `--down-ike | --down-child`.
    DownSa {
        /// Connection name.
        name: String,
        /// Which SA.
        sa: SaKind,
        /// `--asynchronous`.
        asynchronous: bool,
    },
    /// `--global-redirect yes|no|auto`.
    GlobalRedirect {
        /// The mode.
        mode: RedirectMode,
    },
    /// `--global-redirect-to ADDRESSES`.
    GlobalRedirectTo {
        /// Comma-separated gateway addresses or names; empty clears.
        to: String,
    },
    /// `[--name] --redirect-to ADDRESSES`: redirect established peers.
    RedirectTo {
        /// Connection to redirect the peers of; all connections when absent.
        name: Option<String>,
        /// Comma-separated gateway addresses or names.
        to: String,
    },
    /// The opportunistic initiate form.
    Oppo(OppoTrigger),
    /// `--crash ADDRESS`: the peer at ADDRESS has crashed.
    Crash {
        /// The peer's address.
        address: std::net::IpAddr,
    },
    /// `--name --delete`: delete the connection and its SAs.
    Delete {
        /// Connection name.
        name: String,
    },
    /// `--deletestate N`.
    DeleteState {
        /// The state (SA) serial number.
        serial: u64,
    },
    /// `--deleteuser --name USER`: delete the states of an XAUTH user.
    DeleteUser {
        /// The XAUTH user name.
        user: String,
    },
    /// `[--name] --debug ... | --no-debug ...`.
    Debug {
        /// Connection whose debugging to change; global when absent.
        name: Option<String>,
        /// The changes, in command-line order.
        changes: Vec<DebugChange>,
    },
    /// `[--name] --impair ... | --no-impair ...`.
    Impair {
        /// Connection whose impairments to change; global when absent.
        name: Option<String>,
        /// The changes, in command-line order.
        changes: Vec<ImpairChange>,
    },
    /// The list forms.
    List {
        /// Which list.
        what: ListKind,
    },
    /// The reread forms.
    Reread {
        /// What to reread.
        what: RereadKind,
    },
    /// `--ddns`: re-resolve connections with DNS names now.
    Ddns,
    /// `--listevents`: the pending timer events.
    ListEvents,
    /// `--purgeocsp`: empty the OCSP cache.
    PurgeOcsp,
    /// The status forms.
    Status {
        /// Which form.
        what: StatusKind,
    },
    /// `--clearstats`: reset the `--globalstatus` counters.
    ClearStats,
    /// `--ike-socket-bufsize N`.
    IkeSocketBufsize {
        /// Receive and send buffer size, bytes.
        bytes: u32,
    },
    /// `--ike-socket-errqueue-toggle`.
    IkeSocketErrqueueToggle,
    /// `--shutdown [--leave-state]`.
    Shutdown {
        /// Leave connections' kernel state in place.
        leave_state: bool,
    },
}
