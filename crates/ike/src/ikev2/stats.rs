//! Message counters for the daemon's `--globalstatus`: liveness checks and
//! notifies, counted once per message built or accepted (retransmissions of the
//! same bytes are not counted again).

use std::collections::BTreeMap;

use crate::codec::v2::Payload;
use crate::registry::{ExchangeType, NotifyType};

/// Counters of what the endpoint sent and received since it started or since
/// [`Endpoint::clear_counters`](super::Endpoint::clear_counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Liveness checks sent (empty INFORMATIONAL requests).
    pub dpd_sent: u64,
    /// Liveness checks received from peers.
    pub dpd_recv: u64,
    /// Liveness checks answered (empty INFORMATIONAL responses sent).
    pub dpd_replied: u64,
    /// Notify payloads sent, by type.
    pub notifies_sent: BTreeMap<NotifyType, u64>,
    /// Notify payloads received, by type.
    pub notifies_recv: BTreeMap<NotifyType, u64>,
    /// New IKE_SA_INIT requests dropped unanswered because the half-open maximum
    /// of [`Ddos::Auto`](super::Ddos::Auto) was reached.
    pub half_open_refused: u64,
}

impl Counters {
    /// A message we built (plain or before protection), with its payloads.
    pub(crate) fn sent(&mut self, exchange: ExchangeType, response: bool, payloads: &[Payload]) {
        if exchange == ExchangeType::INFORMATIONAL && payloads.is_empty() {
            if response {
                self.dpd_replied += 1;
            } else {
                self.dpd_sent += 1;
            }
        }
        count(&mut self.notifies_sent, payloads);
    }

    /// A message we accepted (decoded, or verified and decrypted).
    pub(crate) fn received(
        &mut self,
        exchange: ExchangeType,
        response: bool,
        payloads: &[Payload],
    ) {
        if exchange == ExchangeType::INFORMATIONAL && !response && payloads.is_empty() {
            self.dpd_recv += 1;
        }
        count(&mut self.notifies_recv, payloads);
    }
}

impl Counters {
    /// An unprotected message we encoded (IKE_SA_INIT and stateless answers).
    pub(crate) fn sent_plain(&mut self, datagram: &[u8]) {
        if let Ok(m) = crate::codec::v2::Message::decode(datagram) {
            self.sent(m.header.exchange, m.header.flags.response, &m.payloads);
        }
    }
}

fn count(m: &mut BTreeMap<NotifyType, u64>, payloads: &[Payload]) {
    for p in payloads {
        if let Payload::Notify(n) = p {
            *m.entry(n.ty).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::v2::Notify;

    #[test]
    fn liveness_and_notifies_are_counted_by_direction() {
        let mut c = Counters::default();
        c.sent(ExchangeType::INFORMATIONAL, false, &[]);
        c.received(ExchangeType::INFORMATIONAL, true, &[]);
        c.received(ExchangeType::INFORMATIONAL, false, &[]);
        c.sent(ExchangeType::INFORMATIONAL, true, &[]);
        assert_eq!((c.dpd_sent, c.dpd_recv, c.dpd_replied), (1, 1, 1));
        let nat = Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP));
        c.sent(ExchangeType::IKE_SA_INIT, false, &[nat.clone(), nat]);
        c.received(
            ExchangeType::IKE_AUTH,
            true,
            &[Payload::Notify(Notify::new(
                NotifyType::AUTHENTICATION_FAILED,
            ))],
        );
        assert_eq!(c.notifies_sent[&NotifyType::NAT_DETECTION_SOURCE_IP], 2);
        assert_eq!(c.notifies_recv[&NotifyType::AUTHENTICATION_FAILED], 1);
        // An INFORMATIONAL carrying a notify is no liveness check.
        c.sent(
            ExchangeType::INFORMATIONAL,
            false,
            &[Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX))],
        );
        assert_eq!(c.dpd_sent, 1);
    }

    #[test]
    fn an_exchange_and_a_liveness_check_are_counted_by_the_endpoints() {
        let mut p = super::super::testutil::Pair::established("aes_gcm256");
        let (w, e) = (p.west.counters().clone(), p.east.counters().clone());
        // IKE_SA_INIT carries NAT detection both ways.
        let nat = NotifyType::NAT_DETECTION_SOURCE_IP;
        assert!(w.notifies_sent.get(&nat).is_some_and(|n| *n >= 1), "{w:?}");
        assert_eq!(w.notifies_sent.get(&nat), e.notifies_recv.get(&nat));
        assert_eq!(e.notifies_sent.get(&nat), w.notifies_recv.get(&nat));
        let serial = p.west.status()[0].serial;
        p.west.send_liveness(serial, p.now).unwrap();
        p.pump();
        assert_eq!(p.west.counters().dpd_sent, 1);
        assert_eq!(p.east.counters().dpd_recv, 1);
        assert_eq!(p.east.counters().dpd_replied, 1);
        p.west.clear_counters();
        assert_eq!(p.west.counters(), &Counters::default());
    }
}
