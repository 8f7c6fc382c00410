//! IANA code points for IKEv2 (RFC 7296 section 3 and the IKEv2 registries) and
//! ISAKMP/IKEv1 (RFC 2407, 2408, 2409, 3947).
//!
//! Every code point is a transparent newtype over its wire integer rather than a closed
//! enum: a peer may send any value, and an unknown value must be representable (so it
//! can be skipped, logged or answered with the right notify) without a parse failure.
//! Each type knows the names of the values it has, in libreswan's spelling where one
//! exists, so logs read like libreswan's.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use core::fmt;

macro_rules! codepoints {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $var:ident = $val:expr, $text:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$vmeta])* pub const $var: Self = Self($val); )*

            /// Every value this build knows by name, in registry order.
            pub const KNOWN: &'static [Self] = &[$(Self::$var),*];

            /// The registry name of this value, if this build knows it.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($text), )*
                    _ => None,
                }
            }

            /// Looks a value up by its registry name (case-insensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                $( if name.eq_ignore_ascii_case($text) { return Some(Self::$var); } )*
                None
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

codepoints! {
    /// IKEv2 exchange types (RFC 7296 section 3.1) and ISAKMP exchange types (RFC 2408 3.1,
    /// RFC 2409, draft XAUTH/ModeCFG).
    ExchangeType(u8) {
        V1_BASE = 1, "ISAKMP_XCHG_BASE";
        V1_IDPROT = 2, "ISAKMP_XCHG_IDPROT";
        V1_AUTH_ONLY = 3, "ISAKMP_XCHG_AO";
        V1_AGGR = 4, "ISAKMP_XCHG_AGGR";
        V1_INFO = 5, "ISAKMP_XCHG_INFO";
        V1_MODE_CFG = 6, "ISAKMP_XCHG_MODE_CFG";
        V1_QUICK = 32, "ISAKMP_XCHG_QUICK";
        V1_NEW_GROUP = 33, "ISAKMP_XCHG_NGRP";
        IKE_SA_INIT = 34, "IKE_SA_INIT";
        IKE_AUTH = 35, "IKE_AUTH";
        CREATE_CHILD_SA = 36, "CREATE_CHILD_SA";
        INFORMATIONAL = 37, "INFORMATIONAL";
        IKE_SESSION_RESUME = 38, "IKE_SESSION_RESUME";
        IKE_INTERMEDIATE = 43, "IKE_INTERMEDIATE";
        IKE_FOLLOWUP_KE = 44, "IKE_FOLLOWUP_KE";
    }
}

codepoints! {
    /// IKEv2 payload types (RFC 7296 section 3.2, RFC 7383) and ISAKMP payload types
    /// (RFC 2408 3.1, RFC 3947, XAUTH/ModeCFG drafts, RFC 2409 fragments as used in practice).
    PayloadType(u8) {
        NONE = 0, "ISAKMP_NEXT_NONE";
        V1_SA = 1, "ISAKMP_NEXT_SA";
        V1_P = 2, "ISAKMP_NEXT_P";
        V1_T = 3, "ISAKMP_NEXT_T";
        V1_KE = 4, "ISAKMP_NEXT_KE";
        V1_ID = 5, "ISAKMP_NEXT_ID";
        V1_CERT = 6, "ISAKMP_NEXT_CERT";
        V1_CR = 7, "ISAKMP_NEXT_CR";
        V1_HASH = 8, "ISAKMP_NEXT_HASH";
        V1_SIG = 9, "ISAKMP_NEXT_SIG";
        V1_NONCE = 10, "ISAKMP_NEXT_NONCE";
        V1_N = 11, "ISAKMP_NEXT_N";
        V1_D = 12, "ISAKMP_NEXT_D";
        V1_VID = 13, "ISAKMP_NEXT_VID";
        V1_MODECFG = 14, "ISAKMP_NEXT_MODECFG";
        V1_NATD = 20, "ISAKMP_NEXT_NATD_RFC";
        V1_NATOA = 21, "ISAKMP_NEXT_NATOA_RFC";
        SA = 33, "ISAKMP_NEXT_v2SA";
        KE = 34, "ISAKMP_NEXT_v2KE";
        IDI = 35, "ISAKMP_NEXT_v2IDi";
        IDR = 36, "ISAKMP_NEXT_v2IDr";
        CERT = 37, "ISAKMP_NEXT_v2CERT";
        CERTREQ = 38, "ISAKMP_NEXT_v2CERTREQ";
        AUTH = 39, "ISAKMP_NEXT_v2AUTH";
        NONCE = 40, "ISAKMP_NEXT_v2Ni";
        NOTIFY = 41, "ISAKMP_NEXT_v2N";
        DELETE = 42, "ISAKMP_NEXT_v2D";
        VENDOR_ID = 43, "ISAKMP_NEXT_v2V";
        TSI = 44, "ISAKMP_NEXT_v2TSi";
        TSR = 45, "ISAKMP_NEXT_v2TSr";
        SK = 46, "ISAKMP_NEXT_v2SK";
        CP = 47, "ISAKMP_NEXT_v2CP";
        EAP = 48, "ISAKMP_NEXT_v2EAP";
        GSPM = 49, "ISAKMP_NEXT_v2GSPM";
        SKF = 53, "ISAKMP_NEXT_v2SKF";
        /// IKEv1 fragment payload (Cisco/libreswan "IKE_FRAGMENTATION" vendor extension).
        V1_FRAGMENT = 132, "ISAKMP_NEXT_IKE_FRAGMENTATION";
    }
}

codepoints! {
    /// IKEv2 transform types (RFC 7296 3.3.2, RFC 9370).
    TransformType(u8) {
        ENCR = 1, "ENCR";
        PRF = 2, "PRF";
        INTEG = 3, "INTEG";
        KE = 4, "KE";
        ESN = 5, "ESN";
        ADDKE1 = 6, "ADDKE1";
        ADDKE2 = 7, "ADDKE2";
        ADDKE3 = 8, "ADDKE3";
        ADDKE4 = 9, "ADDKE4";
        ADDKE5 = 10, "ADDKE5";
        ADDKE6 = 11, "ADDKE6";
        ADDKE7 = 12, "ADDKE7";
    }
}

codepoints! {
    /// IKEv2 encryption transform IDs (IANA "Transform Type 1").
    EncrId(u16) {
        DES_IV64 = 1, "DES_IV64";
        DES = 2, "DES";
        TRIPLE_DES = 3, "3DES";
        NULL = 11, "NULL";
        AES_CBC = 12, "AES_CBC";
        AES_CTR = 13, "AES_CTR";
        AES_CCM_8 = 14, "AES_CCM_8";
        AES_CCM_12 = 15, "AES_CCM_12";
        AES_CCM_16 = 16, "AES_CCM_16";
        AES_GCM_8 = 18, "AES_GCM_8";
        AES_GCM_12 = 19, "AES_GCM_12";
        AES_GCM_16 = 20, "AES_GCM_16";
        NULL_AUTH_AES_GMAC = 21, "NULL_AUTH_AES_GMAC";
        CAMELLIA_CBC = 23, "CAMELLIA_CBC";
        CHACHA20_POLY1305 = 28, "CHACHA20_POLY1305";
    }
}

codepoints! {
    /// IKEv2 pseudo-random function IDs (IANA "Transform Type 2").
    PrfId(u16) {
        HMAC_MD5 = 1, "HMAC_MD5";
        HMAC_SHA1 = 2, "HMAC_SHA1";
        AES128_XCBC = 4, "AES128_XCBC";
        HMAC_SHA2_256 = 5, "HMAC_SHA2_256";
        HMAC_SHA2_384 = 6, "HMAC_SHA2_384";
        HMAC_SHA2_512 = 7, "HMAC_SHA2_512";
        AES128_CMAC = 8, "AES128_CMAC";
    }
}

codepoints! {
    /// IKEv2 integrity algorithm IDs (IANA "Transform Type 3").
    IntegId(u16) {
        NONE = 0, "NONE";
        HMAC_MD5_96 = 1, "HMAC_MD5_96";
        HMAC_SHA1_96 = 2, "HMAC_SHA1_96";
        AES_XCBC_96 = 5, "AES_XCBC_96";
        HMAC_SHA1_160 = 7, "HMAC_SHA1_160";
        AES_CMAC_96 = 8, "AES_CMAC_96";
        HMAC_SHA2_256_128 = 12, "HMAC_SHA2_256_128";
        HMAC_SHA2_384_192 = 13, "HMAC_SHA2_384_192";
        HMAC_SHA2_512_256 = 14, "HMAC_SHA2_512_256";
    }
}

codepoints! {
    /// Key exchange method IDs (IANA "Transform Type 4", formerly Diffie-Hellman groups;
    /// RFC 9370 and the ML-KEM assignments).
    KeId(u16) {
        NONE = 0, "NONE";
        MODP768 = 1, "MODP768";
        MODP1024 = 2, "MODP1024";
        MODP1536 = 5, "MODP1536";
        MODP2048 = 14, "MODP2048";
        MODP3072 = 15, "MODP3072";
        MODP4096 = 16, "MODP4096";
        MODP6144 = 17, "MODP6144";
        MODP8192 = 18, "MODP8192";
        ECP_256 = 19, "DH19";
        ECP_384 = 20, "DH20";
        ECP_521 = 21, "DH21";
        CURVE25519 = 31, "DH31";
        CURVE448 = 32, "DH32";
        ML_KEM_512 = 35, "ML_KEM_512";
        ML_KEM_768 = 36, "ML_KEM_768";
        ML_KEM_1024 = 37, "ML_KEM_1024";
    }
}

codepoints! {
    /// Extended Sequence Numbers transform IDs (IANA "Transform Type 5").
    EsnId(u16) {
        NO = 0, "NO_ESN";
        YES = 1, "ESN";
    }
}

codepoints! {
    /// IKEv2 security protocol IDs (RFC 7296 3.3.1) and IKEv1 protocol IDs (RFC 2407 4.4.1).
    ProtocolId(u8) {
        IKE = 1, "IKE";
        AH = 2, "AH";
        ESP = 3, "ESP";
        IPCOMP = 4, "IPCOMP";
    }
}

codepoints! {
    /// IKEv2 identification types (RFC 7296 3.5) and IKEv1 ID types (RFC 2407 4.6.2.1).
    IdType(u8) {
        IPV4_ADDR = 1, "ID_IPV4_ADDR";
        FQDN = 2, "ID_FQDN";
        RFC822_ADDR = 3, "ID_USER_FQDN";
        V1_IPV4_ADDR_SUBNET = 4, "ID_IPV4_ADDR_SUBNET";
        IPV6_ADDR = 5, "ID_IPV6_ADDR";
        V1_IPV6_ADDR_SUBNET = 6, "ID_IPV6_ADDR_SUBNET";
        V1_IPV4_ADDR_RANGE = 7, "ID_IPV4_ADDR_RANGE";
        V1_IPV6_ADDR_RANGE = 8, "ID_IPV6_ADDR_RANGE";
        DER_ASN1_DN = 9, "ID_DER_ASN1_DN";
        DER_ASN1_GN = 10, "ID_DER_ASN1_GN";
        KEY_ID = 11, "ID_KEY_ID";
        NULL = 13, "ID_NULL";
    }
}

codepoints! {
    /// IKEv2 authentication methods (RFC 7296 3.8, RFC 7427, RFC 7619).
    AuthMethod(u8) {
        RSA_SIG = 1, "RSA_SIG";
        SHARED_KEY_MIC = 2, "PSK";
        DSS_SIG = 3, "DSS_SIG";
        ECDSA_SHA256_P256 = 9, "ECDSA_SHA256_P256";
        ECDSA_SHA384_P384 = 10, "ECDSA_SHA384_P384";
        ECDSA_SHA512_P521 = 11, "ECDSA_SHA512_P521";
        GENERIC_SECURE_PASSWORD = 12, "GSPM";
        NULL = 13, "NULL";
        DIGITAL_SIGNATURE = 14, "DIGITAL_SIGNATURE";
    }
}

codepoints! {
    /// Certificate encodings (RFC 7296 3.6, RFC 2408 3.9).
    CertEncoding(u8) {
        PKCS7_X509 = 1, "PKCS7_X509";
        PGP = 2, "PGP";
        DNS_SIGNED_KEY = 3, "DNS_SIGNED_KEY";
        X509_SIGNATURE = 4, "X509_SIGNATURE";
        KERBEROS = 6, "KERBEROS";
        CRL = 7, "CRL";
        ARL = 8, "ARL";
        SPKI = 9, "SPKI";
        X509_ATTRIBUTE = 10, "X509_ATTRIBUTE";
        RAW_RSA_KEY = 11, "RAW_RSA_KEY";
        HASH_URL_X509 = 12, "HASH_URL_X509";
        HASH_URL_BUNDLE = 13, "HASH_URL_BUNDLE";
        OCSP_CONTENT = 14, "OCSP_CONTENT";
        RAW_PUBLIC_KEY = 15, "RAW_PUBLIC_KEY";
    }
}

codepoints! {
    /// IKEv2 traffic selector types (RFC 7296 3.13.1, RFC 9478 security label).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7, "TS_IPV4_ADDR_RANGE";
        IPV6_ADDR_RANGE = 8, "TS_IPV6_ADDR_RANGE";
        SECLABEL = 10, "TS_SECLABEL";
    }
}

codepoints! {
    /// IKEv2 configuration payload types (RFC 7296 3.15).
    CfgType(u8) {
        REQUEST = 1, "CFG_REQUEST";
        REPLY = 2, "CFG_REPLY";
        SET = 3, "CFG_SET";
        ACK = 4, "CFG_ACK";
    }
}

codepoints! {
    /// IKEv2 configuration attribute types (RFC 7296 3.15.1).
    CfgAttr(u16) {
        INTERNAL_IP4_ADDRESS = 1, "INTERNAL_IP4_ADDRESS";
        INTERNAL_IP4_NETMASK = 2, "INTERNAL_IP4_NETMASK";
        INTERNAL_IP4_DNS = 3, "INTERNAL_IP4_DNS";
        INTERNAL_IP4_NBNS = 4, "INTERNAL_IP4_NBNS";
        INTERNAL_IP4_DHCP = 6, "INTERNAL_IP4_DHCP";
        APPLICATION_VERSION = 7, "APPLICATION_VERSION";
        INTERNAL_IP6_ADDRESS = 8, "INTERNAL_IP6_ADDRESS";
        INTERNAL_IP6_DNS = 10, "INTERNAL_IP6_DNS";
        INTERNAL_IP6_DHCP = 12, "INTERNAL_IP6_DHCP";
        INTERNAL_IP4_SUBNET = 13, "INTERNAL_IP4_SUBNET";
        SUPPORTED_ATTRIBUTES = 14, "SUPPORTED_ATTRIBUTES";
        INTERNAL_IP6_SUBNET = 15, "INTERNAL_IP6_SUBNET";
        INTERNAL_DNS_DOMAIN = 25, "INTERNAL_DNS_DOMAIN";
    }
}

codepoints! {
    /// IKEv2 notify message types (RFC 7296 3.10.1 and the IANA registry): errors below
    /// 16384, status types from 16384.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1, "UNSUPPORTED_CRITICAL_PAYLOAD";
        INVALID_IKE_SPI = 4, "INVALID_IKE_SPI";
        INVALID_MAJOR_VERSION = 5, "INVALID_MAJOR_VERSION";
        INVALID_SYNTAX = 7, "INVALID_SYNTAX";
        INVALID_MESSAGE_ID = 9, "INVALID_MESSAGE_ID";
        INVALID_SPI = 11, "INVALID_SPI";
        NO_PROPOSAL_CHOSEN = 14, "NO_PROPOSAL_CHOSEN";
        INVALID_KE_PAYLOAD = 17, "INVALID_KE_PAYLOAD";
        AUTHENTICATION_FAILED = 24, "AUTHENTICATION_FAILED";
        SINGLE_PAIR_REQUIRED = 34, "SINGLE_PAIR_REQUIRED";
        NO_ADDITIONAL_SAS = 35, "NO_ADDITIONAL_SAS";
        INTERNAL_ADDRESS_FAILURE = 36, "INTERNAL_ADDRESS_FAILURE";
        FAILED_CP_REQUIRED = 37, "FAILED_CP_REQUIRED";
        TS_UNACCEPTABLE = 38, "TS_UNACCEPTABLE";
        INVALID_SELECTORS = 39, "INVALID_SELECTORS";
        UNACCEPTABLE_ADDRESSES = 40, "UNACCEPTABLE_ADDRESSES";
        UNEXPECTED_NAT_DETECTED = 41, "UNEXPECTED_NAT_DETECTED";
        USE_ASSIGNED_HOA = 42, "USE_ASSIGNED_HoA";
        TEMPORARY_FAILURE = 43, "TEMPORARY_FAILURE";
        CHILD_SA_NOT_FOUND = 44, "CHILD_SA_NOT_FOUND";
        INVALID_GROUP_ID = 45, "INVALID_GROUP_ID";
        AUTHORIZATION_FAILED = 46, "AUTHORIZATION_FAILED";
        STATE_NOT_FOUND = 47, "STATE_NOT_FOUND";
        INITIAL_CONTACT = 16384, "INITIAL_CONTACT";
        SET_WINDOW_SIZE = 16385, "SET_WINDOW_SIZE";
        ADDITIONAL_TS_POSSIBLE = 16386, "ADDITIONAL_TS_POSSIBLE";
        IPCOMP_SUPPORTED = 16387, "IPCOMP_SUPPORTED";
        NAT_DETECTION_SOURCE_IP = 16388, "NAT_DETECTION_SOURCE_IP";
        NAT_DETECTION_DESTINATION_IP = 16389, "NAT_DETECTION_DESTINATION_IP";
        COOKIE = 16390, "COOKIE";
        USE_TRANSPORT_MODE = 16391, "USE_TRANSPORT_MODE";
        HTTP_CERT_LOOKUP_SUPPORTED = 16392, "HTTP_CERT_LOOKUP_SUPPORTED";
        REKEY_SA = 16393, "REKEY_SA";
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394, "ESP_TFC_PADDING_NOT_SUPPORTED";
        NON_FIRST_FRAGMENTS_ALSO = 16395, "NON_FIRST_FRAGMENTS_ALSO";
        MOBIKE_SUPPORTED = 16396, "MOBIKE_SUPPORTED";
        ADDITIONAL_IP4_ADDRESS = 16397, "ADDITIONAL_IP4_ADDRESS";
        ADDITIONAL_IP6_ADDRESS = 16398, "ADDITIONAL_IP6_ADDRESS";
        NO_ADDITIONAL_ADDRESSES = 16399, "NO_ADDITIONAL_ADDRESSES";
        UPDATE_SA_ADDRESSES = 16400, "UPDATE_SA_ADDRESSES";
        COOKIE2 = 16401, "COOKIE2";
        NO_NATS_ALLOWED = 16402, "NO_NATS_ALLOWED";
        AUTH_LIFETIME = 16403, "AUTH_LIFETIME";
        MULTIPLE_AUTH_SUPPORTED = 16404, "MULTIPLE_AUTH_SUPPORTED";
        ANOTHER_AUTH_FOLLOWS = 16405, "ANOTHER_AUTH_FOLLOWS";
        REDIRECT_SUPPORTED = 16406, "REDIRECT_SUPPORTED";
        REDIRECT = 16407, "REDIRECT";
        REDIRECTED_FROM = 16408, "REDIRECTED_FROM";
        TICKET_LT_OPAQUE = 16409, "TICKET_LT_OPAQUE";
        TICKET_REQUEST = 16410, "TICKET_REQUEST";
        TICKET_ACK = 16411, "TICKET_ACK";
        TICKET_NACK = 16412, "TICKET_NACK";
        TICKET_OPAQUE = 16413, "TICKET_OPAQUE";
        LINK_ID = 16414, "LINK_ID";
        USE_WESP_MODE = 16415, "USE_WESP_MODE";
        ROHC_SUPPORTED = 16416, "ROHC_SUPPORTED";
        EAP_ONLY_AUTHENTICATION = 16417, "EAP_ONLY_AUTHENTICATION";
        CHILDLESS_IKEV2_SUPPORTED = 16418, "CHILDLESS_IKEV2_SUPPORTED";
        QUICK_CRASH_DETECTION = 16419, "QUICK_CRASH_DETECTION";
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED";
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421, "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED";
        IKEV2_MESSAGE_ID_SYNC = 16422, "IKEV2_MESSAGE_ID_SYNC";
        IPSEC_REPLAY_COUNTER_SYNC = 16423, "IPSEC_REPLAY_COUNTER_SYNC";
        SECURE_PASSWORD_METHODS = 16424, "SECURE_PASSWORD_METHODS";
        PSK_PERSIST = 16425, "PSK_PERSIST";
        PSK_CONFIRM = 16426, "PSK_CONFIRM";
        ERX_SUPPORTED = 16427, "ERX_SUPPORTED";
        IFOM_CAPABILITY = 16428, "IFOM_CAPABILITY";
        SENDER_REQUEST_ID = 16429, "SENDER_REQUEST_ID";
        IKEV2_FRAGMENTATION_SUPPORTED = 16430, "IKEV2_FRAGMENTATION_SUPPORTED";
        SIGNATURE_HASH_ALGORITHMS = 16431, "SIGNATURE_HASH_ALGORITHMS";
        CLONE_IKE_SA_SUPPORTED = 16432, "CLONE_IKE_SA_SUPPORTED";
        CLONE_IKE_SA = 16433, "CLONE_IKE_SA";
        PUZZLE = 16434, "PUZZLE";
        USE_PPK = 16435, "USE_PPK";
        PPK_IDENTITY = 16436, "PPK_IDENTITY";
        NO_PPK_AUTH = 16437, "NO_PPK_AUTH";
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438, "INTERMEDIATE_EXCHANGE_SUPPORTED";
        IP4_ALLOWED = 16439, "IP4_ALLOWED";
        IP6_ALLOWED = 16440, "IP6_ALLOWED";
        ADDITIONAL_KEY_EXCHANGE = 16441, "ADDITIONAL_KEY_EXCHANGE";
        USE_AGGFRAG = 16442, "USE_AGGFRAG";
        SUPPORTED_AUTH_METHODS = 16443, "SUPPORTED_AUTH_METHODS";
        SA_RESOURCE_INFO = 16444, "SA_RESOURCE_INFO";
    }
}

impl NotifyType {
    /// Error notifies are those below 16384 (RFC 7296 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

codepoints! {
    /// ISAKMP/IKEv1 notify message types (RFC 2408 3.14.1, RFC 2407 4.6.3, RFC 3706 DPD).
    V1NotifyType(u16) {
        INVALID_PAYLOAD_TYPE = 1, "INVALID_PAYLOAD_TYPE";
        DOI_NOT_SUPPORTED = 2, "DOI_NOT_SUPPORTED";
        SITUATION_NOT_SUPPORTED = 3, "SITUATION_NOT_SUPPORTED";
        INVALID_COOKIE = 4, "INVALID_COOKIE";
        INVALID_MAJOR_VERSION = 5, "INVALID_MAJOR_VERSION";
        INVALID_MINOR_VERSION = 6, "INVALID_MINOR_VERSION";
        INVALID_EXCHANGE_TYPE = 7, "INVALID_EXCHANGE_TYPE";
        INVALID_FLAGS = 8, "INVALID_FLAGS";
        INVALID_MESSAGE_ID = 9, "INVALID_MESSAGE_ID";
        INVALID_PROTOCOL_ID = 10, "INVALID_PROTOCOL_ID";
        INVALID_SPI = 11, "INVALID_SPI";
        INVALID_TRANSFORM_ID = 12, "INVALID_TRANSFORM_ID";
        ATTRIBUTES_NOT_SUPPORTED = 13, "ATTRIBUTES_NOT_SUPPORTED";
        NO_PROPOSAL_CHOSEN = 14, "NO_PROPOSAL_CHOSEN";
        BAD_PROPOSAL_SYNTAX = 15, "BAD_PROPOSAL_SYNTAX";
        PAYLOAD_MALFORMED = 16, "PAYLOAD_MALFORMED";
        INVALID_KEY_INFORMATION = 17, "INVALID_KEY_INFORMATION";
        INVALID_ID_INFORMATION = 18, "INVALID_ID_INFORMATION";
        INVALID_CERT_ENCODING = 19, "INVALID_CERT_ENCODING";
        INVALID_CERTIFICATE = 20, "INVALID_CERTIFICATE";
        CERT_TYPE_UNSUPPORTED = 21, "CERT_TYPE_UNSUPPORTED";
        INVALID_CERT_AUTHORITY = 22, "INVALID_CERT_AUTHORITY";
        INVALID_HASH_INFORMATION = 23, "INVALID_HASH_INFORMATION";
        AUTHENTICATION_FAILED = 24, "AUTHENTICATION_FAILED";
        INVALID_SIGNATURE = 25, "INVALID_SIGNATURE";
        ADDRESS_NOTIFICATION = 26, "ADDRESS_NOTIFICATION";
        NOTIFY_SA_LIFETIME = 27, "NOTIFY_SA_LIFETIME";
        CERTIFICATE_UNAVAILABLE = 28, "CERTIFICATE_UNAVAILABLE";
        UNSUPPORTED_EXCHANGE_TYPE = 29, "UNSUPPORTED_EXCHANGE_TYPE";
        UNEQUAL_PAYLOAD_LENGTHS = 30, "UNEQUAL_PAYLOAD_LENGTHS";
        CONNECTED = 16384, "CONNECTED";
        RESPONDER_LIFETIME = 24576, "RESPONDER_LIFETIME";
        REPLAY_STATUS = 24577, "REPLAY_STATUS";
        INITIAL_CONTACT = 24578, "INITIAL_CONTACT";
        R_U_THERE = 36136, "R_U_THERE";
        R_U_THERE_ACK = 36137, "R_U_THERE_ACK";
    }
}

codepoints! {
    /// IKEv1 Phase 1 (Oakley) attribute classes (RFC 2409 appendix A).
    OakleyAttr(u16) {
        ENCRYPTION_ALGORITHM = 1, "OAKLEY_ENCRYPTION_ALGORITHM";
        HASH_ALGORITHM = 2, "OAKLEY_HASH_ALGORITHM";
        AUTHENTICATION_METHOD = 3, "OAKLEY_AUTHENTICATION_METHOD";
        GROUP_DESCRIPTION = 4, "OAKLEY_GROUP_DESCRIPTION";
        GROUP_TYPE = 5, "OAKLEY_GROUP_TYPE";
        LIFE_TYPE = 11, "OAKLEY_LIFE_TYPE";
        LIFE_DURATION = 12, "OAKLEY_LIFE_DURATION";
        PRF = 13, "OAKLEY_PRF";
        KEY_LENGTH = 14, "OAKLEY_KEY_LENGTH";
        FIELD_SIZE = 15, "OAKLEY_FIELD_SIZE";
        GROUP_ORDER = 16, "OAKLEY_GROUP_ORDER";
    }
}

codepoints! {
    /// IKEv1 Phase 2 (IPsec DOI) SA attribute classes (RFC 2407 4.5).
    IpsecAttr(u16) {
        SA_LIFE_TYPE = 1, "SA_LIFE_TYPE";
        SA_LIFE_DURATION = 2, "SA_LIFE_DURATION";
        GROUP_DESCRIPTION = 3, "GROUP_DESCRIPTION";
        ENCAPSULATION_MODE = 4, "ENCAPSULATION_MODE";
        AUTH_ALGORITHM = 5, "AUTH_ALGORITHM";
        KEY_LENGTH = 6, "KEY_LENGTH";
        KEY_ROUNDS = 7, "KEY_ROUNDS";
        COMPRESS_DICTIONARY_SIZE = 8, "COMPRESS_DICTIONARY_SIZE";
        COMPRESS_PRIVATE_ALGORITHM = 9, "COMPRESS_PRIVATE_ALGORITHM";
        ECN_TUNNEL = 10, "ECN_TUNNEL";
        EXTENDED_SEQUENCE_NUMBER = 11, "EXTENDED_SEQUENCE_NUMBER";
    }
}

codepoints! {
    /// IKEv1 ModeCFG/XAUTH attribute types (draft-dukes-ike-mode-cfg, draft-beaulieu-ike-xauth).
    ModeCfgAttr(u16) {
        INTERNAL_IP4_ADDRESS = 1, "INTERNAL_IP4_ADDRESS";
        INTERNAL_IP4_NETMASK = 2, "INTERNAL_IP4_NETMASK";
        INTERNAL_IP4_DNS = 3, "INTERNAL_IP4_DNS";
        INTERNAL_IP4_NBNS = 4, "INTERNAL_IP4_NBNS";
        INTERNAL_ADDRESS_EXPIRY = 5, "INTERNAL_ADDRESS_EXPIRY";
        INTERNAL_IP4_DHCP = 6, "INTERNAL_IP4_DHCP";
        APPLICATION_VERSION = 7, "APPLICATION_VERSION";
        INTERNAL_IP6_ADDRESS = 8, "INTERNAL_IP6_ADDRESS";
        INTERNAL_IP6_NETMASK = 9, "INTERNAL_IP6_NETMASK";
        INTERNAL_IP6_DNS = 10, "INTERNAL_IP6_DNS";
        INTERNAL_IP4_SUBNET = 13, "INTERNAL_IP4_SUBNET";
        SUPPORTED_ATTRIBUTES = 14, "SUPPORTED_ATTRIBUTES";
        XAUTH_TYPE = 16520, "XAUTH-TYPE";
        XAUTH_USER_NAME = 16521, "XAUTH-USER-NAME";
        XAUTH_USER_PASSWORD = 16522, "XAUTH-USER-PASSWORD";
        XAUTH_PASSCODE = 16523, "XAUTH-PASSCODE";
        XAUTH_MESSAGE = 16524, "XAUTH-MESSAGE";
        XAUTH_CHALLENGE = 16525, "XAUTH-CHALLENGE";
        XAUTH_DOMAIN = 16526, "XAUTH-DOMAIN";
        XAUTH_STATUS = 16527, "XAUTH-STATUS";
        XAUTH_NEXT_PIN = 16528, "XAUTH-NEXT-PIN";
        XAUTH_ANSWER = 16529, "XAUTH-ANSWER";
        CISCO_BANNER = 28672, "CISCO_BANNER";
        CISCO_DEF_DOMAIN = 28674, "CISCO_DEF_DOMAIN";
        CISCO_SPLIT_INC = 28676, "CISCO_SPLIT_INC";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in EncrId::KNOWN {
            assert_eq!(EncrId::from_name(v.name().unwrap()), Some(*v));
        }
        assert_eq!(NotifyType::from_name("cookie"), Some(NotifyType::COOKIE));
    }

    #[test]
    fn unknown_values_are_representable() {
        let t = NotifyType(9999);
        assert_eq!(t.name(), None);
        assert_eq!(t.to_string(), "NotifyType(9999)");
        assert!(t.is_error());
        assert!(!NotifyType::COOKIE.is_error());
    }
}
