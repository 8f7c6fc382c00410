//! The connection/policy database: connections, policies, proposals, ipsec.conf/ipsec.secrets and keys.
