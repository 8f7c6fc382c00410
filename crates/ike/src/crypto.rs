//! The crypto suite: SK-payload ciphers, PRFs, integrity, key exchange and IKE key derivation, over aws-lc-rs.
