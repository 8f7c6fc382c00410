//! `whack --help`: the forms, as the manual's SYNOPSIS lists them.

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
Usage: whack [--help] [--version]
  connection: whack --name NAME [--ipv4|--ipv6] [--tunnelipv4|--tunnelipv6]
        [--ikev1|--ikev2] [--ike ALGOS]
        END-OPTIONS --to END-OPTIONS
        [--tunnel] [--psk] [--rsasig] [--encapsulation[=yes|no|auto]]
        [--encrypt] [--authenticate] [--compress] [--pfs] [--pfsgroup GROUP]
        [--ikelifetime SECS] [--ipseclifetime SECS] [--rekeymargin SECS]
        [--rekeyfuzz PERCENT] [--keyingtries N] [--esp ALGOS] [--dontrekey]
        [--aggrmode] [--modecfgpull] [--metric N] [--nflog-group N]
        [--conn-mark MARK/MASK] [--dpddelay SECS] [--dpdtimeout SECS]
        [--no-keep-alive] [--fragmentation yes|no|force]
        [--initiateontraffic|--pass|--drop|--reject]
        [--failnone|--failpass|--faildrop|--failreject]
    END-OPTIONS (before --to: left end; after: right end):
        [--id ID] [--host ADDR|%any|%opportunistic] [--cert NAME] [--ckaid HEX]
        [--ca DN] [--groups G,...] [--sendcert yes|forced|always|ifasked|no|never]
        [--sendca none|issuer|all] [--certtype N] [--ikeport PORT]
        [--nexthop ADDR] [--client|--subnet SUBNET]... [--clientprotoport PROTO/PORT]
        [--sourceip|--srcip ADDR] [--xauthserver] [--xauthclient]
        [--modecfgserver] [--modecfgclient] [--modecfgdns ADDR,...]
        [--modecfgdomains DOMAIN,...] [--modecfgbanner TEXT] [--dnskeyondemand]
        [--updown COMMAND]
  key:        whack --keyid ID [--addkey] [--pubkeyrsa KEY]
  listen:     whack --listen | --unlisten
  ddos:       whack --ddos-auto | --ddos-busy | --ddos-unlimited
  route:      whack --route | --unroute --name NAME
  initiate:   whack --initiate --name NAME [--remote-host ADDR]
                    [--xauthuser USER] [--xauthpass PASS] [--asynchronous]
  down:       whack --down --name NAME [--asynchronous]
  SAs:        whack --rekey-ike|--rekey-child|--delete-ike|--delete-child|
                    --down-ike|--down-child --name NAME [--asynchronous]
  redirect:   whack --global-redirect yes|no|auto
              whack --global-redirect-to ADDR[,ADDR...]
              whack [--name NAME] --redirect-to ADDR[,ADDR...]
  oppo:       whack [--tunnelipv4|--tunnelipv6] --oppohere ADDR --oppothere ADDR
                    --opposport PORT --oppodport PORT --oppoproto PROTO
  crash:      whack --crash ADDR
  delete:     whack --name NAME --delete
              whack --deletestate N
              whack --deleteuser --name USER
  debug:      whack [--name NAME] --debug help|none|all|CLASS|no-CLASS
                    | --no-debug CLASS | --impair help|list|none|BEHAVIOUR[:HOW]
                    | --no-impair BEHAVIOUR
  list:       whack [--utc] [--json] [--listall] [--listpubkeys] [--checkpubkeys]
                    [--listcerts] [--listcacerts] [--listcrls] [--listevents]
  reread:     whack [--rereadsecrets] [--fetchcrls] [--rereadall] [--rereadcrls]
  misc:       whack --ddns | --purgeocsp
  status:     whack [--json] [--status] [--globalstatus] [--briefstatus]
                    [--connectionstatus] [--trafficstatus] [--shuntstatus]
                    [--addresspoolstatus] [--fipsstatus] [--processstatus]
                    [--clearstats]
  sockets:    whack [--ike-socket-bufsize BYTES] [--ike-socket-errqueue-toggle]
  shutdown:   whack --shutdown [--leave-state]
  every form: [--rundir DIR] [--ctlsocket PATH] [--label TEXT]
Long options may be abbreviated to any unambiguous prefix.
Exit status: 1 for a problem whack detects itself, else the code of the last
non-comment message from pluto (0 for success).
";
