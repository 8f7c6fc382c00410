//! `whack --listevents`: the core's pending timers, one line each, in the layout of
//! libreswan 5's state events:
//!
//! ```text
//! event EVENT_v2_RETRANSMIT schd: 8412s (in 9s) "west-east" #1
//! event EVENT_v2_REKEY schd: 36653s (in 28250s) "west-east" #2
//! event EVENT_v2_EXPIRE schd: 37203s (in 28800s) "west-east" #2
//! ```
//!
//! `schd:` is the time the event is due in seconds of the system's monotonic
//! clock (libreswan's "monotonic epoch"), `in` how far away that is (a timer
//! already due shows 0s); earliest first. The names: EVENT_v2_RETRANSMIT (resend
//! or give up the outstanding request), EVENT_v2_REKEY (start a rekey),
//! EVENT_v2_EXPIRE (end of the lifetime, or deletion of a replaced IKE SA),
//! EVENT_v2_LIVENESS (liveness check), EVENT_v2_DISCARD (half-open or deleted IKE
//! SA dropped), EVENT_NAT_T_KEEPALIVE (NAT keepalive). libreswan's global timers
//! (shunt scan, secrets reload, ...) have no counterpart here: pluto-rs has no
//! such periodic jobs.

use std::time::Instant;

use ike::ikev2::PendingTimer;

/// Seconds from `now` until `t`, rounded up so a timer a fraction of a second
/// away does not show as due.
fn secs_until(t: Instant, now: Instant) -> u64 {
    let d = t.saturating_duration_since(now);
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Seconds of the system's monotonic clock (CLOCK_MONOTONIC), which `schd:`
/// counts in.
pub fn monotonic_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc == 0 {
        u64::try_from(ts.tv_sec).unwrap_or(0)
    } else {
        0
    }
}

/// The text lines, in the order given (the core sorts them by time); `mono_now`
/// is [`monotonic_secs`] at `now`.
pub fn lines(timers: &[PendingTimer], now: Instant, mono_now: u64) -> Vec<String> {
    timers
        .iter()
        .map(|t| {
            let delta = secs_until(t.at, now);
            format!(
                "event {} schd: {}s (in {delta}s) \"{}\" {}",
                t.kind.libreswan_name(),
                mono_now + delta,
                t.connection,
                t.serial,
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
            lines(&timers, now, 100),
            [
                "event EVENT_v2_RETRANSMIT schd: 100s (in 0s) \"west-east\" #1",
                "event EVENT_v2_LIVENESS schd: 102s (in 2s) \"west-east\" #1",
                "event EVENT_v2_REKEY schd: 28350s (in 28250s) \"west-east\" #2",
                "event EVENT_v2_EXPIRE schd: 28900s (in 28800s) \"west-east\" #2",
            ]
        );
        // A timer in the past is due: 0 s, never negative.
        assert_eq!(
            lines(&timers[2..3], now + Duration::from_secs(30000), 7),
            ["event EVENT_v2_REKEY schd: 7s (in 0s) \"west-east\" #2"]
        );
        assert!(lines(&[], now, 0).is_empty());
        assert!(monotonic_secs() > 0);
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
