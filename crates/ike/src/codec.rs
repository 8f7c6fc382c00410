//! Typed, panic-free encode/decode of IKEv2 (RFC 7296, RFC 7383) and ISAKMP/IKEv1 (RFC 2408/2409/3947) messages.
