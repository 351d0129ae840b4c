//! Durations as Paddock's own settings and flags take them: a whole number and a unit, never a bare number
//! (`7` could mean any unit): `500ms`, `1s`, `15m`, `24h`, `7d`.

use std::time::Duration;

/// Ten years: longer durations are refused, so that no deadline computed from one can overflow.
const MAX_DURATION_MS: u64 = 3650 * 24 * 3600 * 1000;

/// A duration with its unit, as Paddock's duration settings take them: a whole number, then `ms`, `s`,
/// `m`, `h` or `d` (`500ms`, `1s`, `15m`, `24h`, `7d`). A bare number is refused: `7` could mean any unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = || {
        format!(
            "{text:?} is not a duration: give a whole number with a unit, ms, s, m, h or d (500ms, 1s, 15m, 24h, 7d)"
        )
    };
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 3600 * 1000,
        "d" => 24 * 3600 * 1000,
        _ => return Err(expected()),
    };
    let number: u64 = number.parse().map_err(|_| expected())?;
    match number.checked_mul(unit_ms) {
        Some(ms) if ms <= MAX_DURATION_MS => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{text:?} is too long a duration: at most 3650d")),
    }
}

/// A duration in the largest unit that divides it: `7d`, `15m`, `1500ms`.
pub fn format_duration(duration: Duration) -> String {
    let ms = duration_ms(duration);
    for (unit, size) in [("d", 24 * 3600 * 1000), ("h", 3600 * 1000), ("m", 60 * 1000), ("s", 1000)] {
        if ms > 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    if ms == 0 { "0s".to_string() } else { format!("{ms}ms") }
}

pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["7", "", "d", "1.5h", "-1s", "7 days", "3651d"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
