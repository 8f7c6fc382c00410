//! Wall-clock times as libreswan prints them (`Nov 27 02:30:00 2026`), local or UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Mon DD HH:MM:SS YYYY`, in UTC when `utc`, else local time.
pub fn civil(t: SystemTime, utc: bool) -> String {
    let secs = unix(t) as i64;
    let offset = if utc { 0 } else { local_offset(secs) };
    let s = secs + offset;
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS
        .get(usize::try_from(m - 1).unwrap_or(0))
        .copied()
        .unwrap_or("???");
    format!(
        "{mon} {d:02} {:02}:{:02}:{:02} {y}{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        if utc { " UTC" } else { "" }
    )
}

/// The local time zone's offset from UTC at `secs`, from libc.
fn local_offset(secs: i64) -> i64 {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: tm is plain data; localtime_r writes it for a valid time_t pointer.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call's duration.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return 0;
    }
    tm.tm_gmtoff
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_formatting() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(civil(t, true), "Nov 14 22:13:20 2023 UTC");
        assert_eq!(civil(UNIX_EPOCH, true), "Jan 01 00:00:00 1970 UTC");
        assert_eq!(unix(t), 1_700_000_000);
    }
}
