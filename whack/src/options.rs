//! whack's option table and getopt_long-style lookup.
//!
//! Like getopt_long, a long option may be abbreviated to any prefix that names it
//! unambiguously; an exact match always wins over longer options it is a prefix of
//! (`--down` is `--down`, not `--down-ike`), and a prefix shared by several options
//! is refused as ambiguous. Arguments are given as `--opt value` or `--opt=value`;
//! optional arguments only with `=` (plus, for the keyword options that take one,
//! a following word that is one of the keywords).

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A flag.
    No,
    /// Needs a value.
    Required,
    /// May have a value (`--opt=value`, or a following word from `words`).
    Optional(&'static [&'static str]),
}

/// Every option whack knows.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opt {
    // Help and global.
    Help,
    Version,
    CtlSocket,
    RunDir,
    Label,
    Utc,
    Json,
    Name,
    // Connection form: end options.
    Id,
    Host,
    Cert,
    Ckaid,
    Ca,
    Groups,
    SendCert,
    SendCa,
    CertType,
    IkePort,
    NextHop,
    Subnet,
    ClientProtoPort,
    SourceIp,
    XauthServer,
    XauthClient,
    ModecfgServer,
    ModecfgClient,
    ModecfgDns,
    ModecfgDomains,
    ModecfgBanner,
    DnsKeyOnDemand,
    Updown,
    To,
    // Connection form: policy.
    Ipv4,
    Ipv6,
    TunnelIpv4,
    TunnelIpv6,
    Ikev1,
    Ikev2,
    Ike,
    Esp,
    Fragmentation,
    Tunnel,
    Psk,
    RsaSig,
    Encapsulation,
    Encrypt,
    Authenticate,
    Compress,
    Pfs,
    PfsGroup,
    IkeLifetime,
    IpsecLifetime,
    RekeyMargin,
    RekeyFuzz,
    KeyingTries,
    DontRekey,
    AggrMode,
    ModecfgPull,
    Metric,
    NflogGroup,
    ConnMark,
    DpdDelay,
    DpdTimeout,
    NoKeepAlive,
    InitiateOnTraffic,
    Pass,
    Drop,
    Reject,
    FailNone,
    FailPass,
    FailDrop,
    FailReject,
    // Key form.
    KeyId,
    AddKey,
    PubKeyRsa,
    // Actions.
    Listen,
    Unlisten,
    DdosAuto,
    DdosBusy,
    DdosUnlimited,
    Route,
    Unroute,
    Initiate,
    RemoteHost,
    XauthUser,
    XauthPass,
    Asynchronous,
    Down,
    RekeyIke,
    RekeyChild,
    DeleteIke,
    DeleteChild,
    DownIke,
    DownChild,
    GlobalRedirect,
    GlobalRedirectTo,
    RedirectTo,
    OppoHere,
    OppoThere,
    OppoSport,
    OppoDport,
    OppoProto,
    Crash,
    Delete,
    DeleteState,
    DeleteUser,
    Debug,
    NoDebug,
    Impair,
    NoImpair,
    ListAll,
    ListPubKeys,
    ListCerts,
    CheckPubKeys,
    ListCaCerts,
    ListCrls,
    RereadSecrets,
    FetchCrls,
    RereadAll,
    RereadCrls,
    Ddns,
    ListEvents,
    PurgeOcsp,
    Status,
    AddressPoolStatus,
    BriefStatus,
    ConnectionStatus,
    FipsStatus,
    ProcessStatus,
    ShowStates,
    RereadCerts,
    ListPsks,
    DeleteId,
    ConnAlias,
    ShuntStatus,
    TrafficStatus,
    GlobalStatus,
    ClearStats,
    IkeSocketBufsize,
    IkeSocketErrqueueToggle,
    Shutdown,
    LeaveState,
}

const YNA: &[&str] = &["yes", "no", "auto"];

/// The table: long name, argument, meaning. Aliases are separate rows.
pub const OPTIONS: &[(&str, Arg, Opt)] = &[
    ("help", Arg::No, Opt::Help),
    ("version", Arg::No, Opt::Version),
    ("ctlsocket", Arg::Required, Opt::CtlSocket),
    ("rundir", Arg::Required, Opt::RunDir),
    ("label", Arg::Required, Opt::Label),
    ("utc", Arg::No, Opt::Utc),
    ("json", Arg::No, Opt::Json),
    ("name", Arg::Required, Opt::Name),
    ("id", Arg::Required, Opt::Id),
    ("host", Arg::Required, Opt::Host),
    ("cert", Arg::Required, Opt::Cert),
    ("ckaid", Arg::Required, Opt::Ckaid),
    ("ca", Arg::Required, Opt::Ca),
    ("groups", Arg::Required, Opt::Groups),
    ("sendcert", Arg::Required, Opt::SendCert),
    ("sendca", Arg::Required, Opt::SendCa),
    ("certtype", Arg::Required, Opt::CertType),
    ("ikeport", Arg::Required, Opt::IkePort),
    ("nexthop", Arg::Required, Opt::NextHop),
    ("client", Arg::Required, Opt::Subnet),
    ("subnet", Arg::Required, Opt::Subnet),
    ("clientprotoport", Arg::Required, Opt::ClientProtoPort),
    ("sourceip", Arg::Required, Opt::SourceIp),
    ("srcip", Arg::Required, Opt::SourceIp),
    ("xauthserver", Arg::No, Opt::XauthServer),
    ("xauthclient", Arg::No, Opt::XauthClient),
    ("modecfgserver", Arg::No, Opt::ModecfgServer),
    ("modecfgclient", Arg::No, Opt::ModecfgClient),
    ("modecfgdns", Arg::Required, Opt::ModecfgDns),
    ("modecfgdomains", Arg::Required, Opt::ModecfgDomains),
    ("modecfgbanner", Arg::Required, Opt::ModecfgBanner),
    ("dnskeyondemand", Arg::No, Opt::DnsKeyOnDemand),
    ("updown", Arg::Required, Opt::Updown),
    ("to", Arg::No, Opt::To),
    ("ipv4", Arg::No, Opt::Ipv4),
    ("ipv6", Arg::No, Opt::Ipv6),
    ("tunnelipv4", Arg::No, Opt::TunnelIpv4),
    ("tunnelipv6", Arg::No, Opt::TunnelIpv6),
    ("ikev1", Arg::No, Opt::Ikev1),
    ("ikev2", Arg::No, Opt::Ikev2),
    ("ike", Arg::Required, Opt::Ike),
    ("esp", Arg::Required, Opt::Esp),
    ("fragmentation", Arg::Required, Opt::Fragmentation),
    ("tunnel", Arg::No, Opt::Tunnel),
    ("psk", Arg::No, Opt::Psk),
    ("rsasig", Arg::No, Opt::RsaSig),
    ("encapsulation", Arg::Optional(YNA), Opt::Encapsulation),
    ("encrypt", Arg::No, Opt::Encrypt),
    ("authenticate", Arg::No, Opt::Authenticate),
    ("compress", Arg::No, Opt::Compress),
    ("pfs", Arg::No, Opt::Pfs),
    ("pfsgroup", Arg::Required, Opt::PfsGroup),
    ("ikelifetime", Arg::Required, Opt::IkeLifetime),
    ("ipseclifetime", Arg::Required, Opt::IpsecLifetime),
    ("rekeymargin", Arg::Required, Opt::RekeyMargin),
    ("rekeyfuzz", Arg::Required, Opt::RekeyFuzz),
    ("keyingtries", Arg::Required, Opt::KeyingTries),
    ("dontrekey", Arg::No, Opt::DontRekey),
    ("aggrmode", Arg::No, Opt::AggrMode),
    ("modecfgpull", Arg::No, Opt::ModecfgPull),
    ("metric", Arg::Required, Opt::Metric),
    ("nflog-group", Arg::Required, Opt::NflogGroup),
    ("conn-mark", Arg::Required, Opt::ConnMark),
    ("dpddelay", Arg::Required, Opt::DpdDelay),
    ("dpdtimeout", Arg::Required, Opt::DpdTimeout),
    ("timeout", Arg::Required, Opt::DpdTimeout),
    ("no-keep-alive", Arg::No, Opt::NoKeepAlive),
    ("initiateontraffic", Arg::No, Opt::InitiateOnTraffic),
    ("pass", Arg::No, Opt::Pass),
    ("drop", Arg::No, Opt::Drop),
    ("reject", Arg::No, Opt::Reject),
    ("failnone", Arg::No, Opt::FailNone),
    ("failpass", Arg::No, Opt::FailPass),
    ("faildrop", Arg::No, Opt::FailDrop),
    ("failreject", Arg::No, Opt::FailReject),
    ("keyid", Arg::Required, Opt::KeyId),
    ("addkey", Arg::No, Opt::AddKey),
    ("pubkeyrsa", Arg::Required, Opt::PubKeyRsa),
    ("listen", Arg::No, Opt::Listen),
    ("unlisten", Arg::No, Opt::Unlisten),
    ("ddos-auto", Arg::No, Opt::DdosAuto),
    ("ddos-busy", Arg::No, Opt::DdosBusy),
    ("ddos-unlimited", Arg::No, Opt::DdosUnlimited),
    ("route", Arg::No, Opt::Route),
    ("unroute", Arg::No, Opt::Unroute),
    ("initiate", Arg::No, Opt::Initiate),
    ("remote-host", Arg::Required, Opt::RemoteHost),
    ("xauthuser", Arg::Required, Opt::XauthUser),
    ("xauthname", Arg::Required, Opt::XauthUser),
    ("xauthpass", Arg::Required, Opt::XauthPass),
    ("asynchronous", Arg::No, Opt::Asynchronous),
    ("down", Arg::No, Opt::Down),
    ("terminate", Arg::No, Opt::Down),
    ("rekey-ike", Arg::No, Opt::RekeyIke),
    ("rekey-child", Arg::No, Opt::RekeyChild),
    ("delete-ike", Arg::No, Opt::DeleteIke),
    ("delete-child", Arg::No, Opt::DeleteChild),
    ("down-ike", Arg::No, Opt::DownIke),
    ("down-child", Arg::No, Opt::DownChild),
    ("global-redirect", Arg::Required, Opt::GlobalRedirect),
    ("global-redirect-to", Arg::Required, Opt::GlobalRedirectTo),
    ("redirect-to", Arg::Required, Opt::RedirectTo),
    ("oppohere", Arg::Required, Opt::OppoHere),
    ("oppothere", Arg::Required, Opt::OppoThere),
    ("opposport", Arg::Required, Opt::OppoSport),
    ("oppodport", Arg::Required, Opt::OppoDport),
    ("oppoproto", Arg::Required, Opt::OppoProto),
    ("crash", Arg::Required, Opt::Crash),
    ("delete", Arg::No, Opt::Delete),
    ("deletestate", Arg::Required, Opt::DeleteState),
    ("deleteuser", Arg::No, Opt::DeleteUser),
    ("debug", Arg::Required, Opt::Debug),
    ("no-debug", Arg::Required, Opt::NoDebug),
    ("impair", Arg::Required, Opt::Impair),
    ("no-impair", Arg::Required, Opt::NoImpair),
    ("listall", Arg::No, Opt::ListAll),
    ("listpubkeys", Arg::No, Opt::ListPubKeys),
    ("listcerts", Arg::No, Opt::ListCerts),
    ("checkpubkeys", Arg::No, Opt::CheckPubKeys),
    ("listcacerts", Arg::No, Opt::ListCaCerts),
    ("listcrls", Arg::No, Opt::ListCrls),
    ("rereadsecrets", Arg::No, Opt::RereadSecrets),
    ("fetchcrls", Arg::No, Opt::FetchCrls),
    ("rereadall", Arg::No, Opt::RereadAll),
    ("rereadcrls", Arg::No, Opt::RereadCrls),
    ("ddns", Arg::No, Opt::Ddns),
    ("listevents", Arg::No, Opt::ListEvents),
    ("purgeocsp", Arg::No, Opt::PurgeOcsp),
    ("status", Arg::No, Opt::Status),
    ("addresspoolstatus", Arg::No, Opt::AddressPoolStatus),
    ("briefstatus", Arg::No, Opt::BriefStatus),
    ("connectionstatus", Arg::No, Opt::ConnectionStatus),
    ("fipsstatus", Arg::No, Opt::FipsStatus),
    ("processstatus", Arg::No, Opt::ProcessStatus),
    ("showstates", Arg::No, Opt::ShowStates),
    ("rereadcerts", Arg::No, Opt::RereadCerts),
    ("listpsks", Arg::No, Opt::ListPsks),
    ("deleteid", Arg::No, Opt::DeleteId),
    ("connalias", Arg::Required, Opt::ConnAlias),
    ("shuntstatus", Arg::No, Opt::ShuntStatus),
    ("trafficstatus", Arg::No, Opt::TrafficStatus),
    ("globalstatus", Arg::No, Opt::GlobalStatus),
    ("globalstats", Arg::No, Opt::GlobalStatus),
    ("clearstats", Arg::No, Opt::ClearStats),
    ("ike-socket-bufsize", Arg::Required, Opt::IkeSocketBufsize),
    (
        "ike-socket-errqueue-toggle",
        Arg::No,
        Opt::IkeSocketErrqueueToggle,
    ),
    ("shutdown", Arg::No, Opt::Shutdown),
    ("leave-state", Arg::No, Opt::LeaveState),
];

/// Why a word could not be resolved to an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// No option starts with it.
    Unknown,
    /// Several options start with it; their names.
    Ambiguous(Vec<&'static str>),
}

/// Resolves a long option name (without `--`) as getopt_long does.
pub fn lookup(word: &str) -> Result<(&'static str, Arg, Opt), LookupError> {
    if let Some(&(n, a, o)) = OPTIONS.iter().find(|(n, _, _)| *n == word) {
        return Ok((n, a, o));
    }
    if word.is_empty() {
        return Err(LookupError::Unknown);
    }
    let matches: Vec<&(&str, Arg, Opt)> = OPTIONS
        .iter()
        .filter(|(n, _, _)| n.starts_with(word))
        .collect();
    match matches.as_slice() {
        [] => Err(LookupError::Unknown),
        [first, rest @ ..] => {
            // Aliases of one option are not ambiguous with each other.
            if rest.iter().all(|m| m.2 == first.2) {
                Ok((first.0, first.1, first.2))
            } else {
                Err(LookupError::Ambiguous(
                    matches.iter().map(|m| m.0).collect(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_beats_longer_options() {
        assert_eq!(lookup("down").unwrap().2, Opt::Down);
        assert_eq!(lookup("delete").unwrap().2, Opt::Delete);
        assert_eq!(lookup("to").unwrap().2, Opt::To);
        assert_eq!(lookup("ike").unwrap().2, Opt::Ike);
        assert_eq!(lookup("debug").unwrap().2, Opt::Debug);
    }

    #[test]
    fn unique_prefixes_resolve() {
        assert_eq!(lookup("stat").unwrap().2, Opt::Status);
        assert_eq!(lookup("traffic").unwrap().2, Opt::TrafficStatus);
        assert_eq!(lookup("shut").unwrap().2, Opt::Shutdown);
        assert_eq!(lookup("globalstat").unwrap().2, Opt::GlobalStatus);
        assert_eq!(lookup("initiateon").unwrap().2, Opt::InitiateOnTraffic);
        assert!(matches!(lookup("init"), Err(LookupError::Ambiguous(_))));
        assert_eq!(lookup("asy").unwrap().2, Opt::Asynchronous);
    }

    #[test]
    fn shared_prefixes_are_ambiguous() {
        match lookup("list") {
            Err(LookupError::Ambiguous(v)) => {
                assert!(v.contains(&"listen") && v.contains(&"listall"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(lookup("de"), Err(LookupError::Ambiguous(_))));
        assert!(matches!(lookup("re"), Err(LookupError::Ambiguous(_))));
        assert_eq!(lookup("frobnicate"), Err(LookupError::Unknown));
    }

    #[test]
    fn names_are_unique() {
        for (i, (a, _, _)) in OPTIONS.iter().enumerate() {
            for (b, _, _) in &OPTIONS[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
