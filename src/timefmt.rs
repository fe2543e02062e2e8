//! Times for people: UTC dates and ages, without a date crate.
//!
//! portwarden shows when a holder started (boot time + start ticks). A time
//! zone database would be a large dependency for one line of the details
//! pane, so times are UTC, computed with Howard Hinnant's days-to-civil
//! algorithm, and pure (the caller passes "now"), which keeps TUI snapshots
//! and `why` output deterministic in tests.

/// Seconds since the Unix epoch → `2026-11-24 12:03:01` (UTC).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A duration in seconds as people say it: `42s`, `5m 3s`, `3h 12m`, `2d 4h`.
pub fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs / 60 % 60),
        _ => format!("{}d {}h", secs / 86_400, secs / 3600 % 24),
    }
}

/// Seconds since the epoch, now (0 if the clock is before 1970).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        // Checked against `date -u -d @1795000000`.
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn ages() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(303), "5m 3s");
        assert_eq!(age(3 * 3600 + 720), "3h 12m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d 4h");
        assert_eq!(age(125), "2m 5s");
        assert_eq!(age(7300), "2h 1m");
        assert_eq!(age(90_000), "1d 1h");
    }
}
