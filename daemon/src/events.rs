//! `whack --listevents`: the core's pending timers, one line each.
//!
//! libreswan's exact layout of this listing was not available to check against,
//! so the lines keep its event names and its `"conn" #N` way of naming an SA:
//!
//! ```text
//! 9s: EVENT_v2_RETRANSMIT, SA #1 "west-east"
//! 28250s: EVENT_v2_REKEY, SA #2 "west-east"
//! 28800s: EVENT_v2_EXPIRE, SA #2 "west-east"
//! ```
//!
//! `<seconds from now>s: EVENT_NAME, SA #N "connection"`, earliest first (a
//! timer already due shows 0s). The names: EVENT_v2_RETRANSMIT (resend or give up
//! the outstanding request), EVENT_v2_REKEY (start a rekey), EVENT_v2_EXPIRE
//! (end of the lifetime, or deletion of a replaced IKE SA), EVENT_v2_LIVENESS
//! (liveness check), EVENT_v2_DISCARD (half-open or deleted IKE SA dropped),
//! EVENT_NAT_T_KEEPALIVE (NAT keepalive).

use std::time::Instant;

use ike::ikev2::PendingTimer;

/// Seconds from `now` until `t`, rounded up so a timer a fraction of a second
/// away does not show as due.
fn secs_until(t: Instant, now: Instant) -> u64 {
    let d = t.saturating_duration_since(now);
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The text lines, in the order given (the core sorts them by time).
pub fn lines(timers: &[PendingTimer], now: Instant) -> Vec<String> {
    timers
        .iter()
        .map(|t| {
            format!(
                "{}s: {}, SA {} \"{}\"",
                secs_until(t.at, now),
                t.kind.libreswan_name(),
                t.serial,
                t.connection
            )
        })
        .collect()
}

/// The JSON form (`--json`): `{"events": [{"event", "in_seconds", "serial",
/// "connection"}]}`.
pub fn json(timers: &[PendingTimer], now: Instant) -> serde_json::Value {
    let events: Vec<serde_json::Value> = timers
        .iter()
        .map(|t| {
            serde_json::json!({
                "event": t.kind.libreswan_name(),
                "in_seconds": secs_until(t.at, now),
                "serial": t.serial.0,
                "connection": t.connection,
            })
        })
        .collect();
    serde_json::json!({ "events": events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike::ikev2::{SaSerial, TimerKind};
    use std::time::Duration;

    fn timer(at: Instant, kind: TimerKind, serial: u64) -> PendingTimer {
        PendingTimer {
            at,
            kind,
            serial: SaSerial(serial),
            connection: "west-east".into(),
        }
    }

    #[test]
    fn one_line_per_timer_with_seconds_from_now() {
        let now = Instant::now();
        let timers = [
            timer(now, TimerKind::Retransmit, 1),
            timer(now + Duration::from_millis(1500), TimerKind::Liveness, 1),
            timer(now + Duration::from_secs(28250), TimerKind::Rekey, 2),
            timer(now + Duration::from_secs(28800), TimerKind::Expire, 2),
        ];
        assert_eq!(
            lines(&timers, now),
            [
                "0s: EVENT_v2_RETRANSMIT, SA #1 \"west-east\"",
                "2s: EVENT_v2_LIVENESS, SA #1 \"west-east\"",
                "28250s: EVENT_v2_REKEY, SA #2 \"west-east\"",
                "28800s: EVENT_v2_EXPIRE, SA #2 \"west-east\"",
            ]
        );
        // A timer in the past is due: 0 s, never negative.
        assert_eq!(
            lines(&timers[2..3], now + Duration::from_secs(30000)),
            ["0s: EVENT_v2_REKEY, SA #2 \"west-east\""]
        );
        assert!(lines(&[], now).is_empty());
    }

    #[test]
    fn json_lists_the_same_events() {
        let now = Instant::now();
        let timers = [
            timer(now + Duration::from_secs(20), TimerKind::Keepalive, 3),
            timer(now + Duration::from_secs(60), TimerKind::HalfOpen, 4),
        ];
        let v = json(&timers, now);
        assert_eq!(v["events"][0]["event"], "EVENT_NAT_T_KEEPALIVE");
        assert_eq!(v["events"][0]["in_seconds"], 20);
        assert_eq!(v["events"][1]["event"], "EVENT_v2_DISCARD");
        assert_eq!(v["events"][1]["serial"], 4);
        assert_eq!(v["events"][1]["connection"], "west-east");
    }
}
