//! Durations as people write them: `5s`, `500ms`, `1.5m`, `1h 30m`
//! (humantime's syntax), with messages that say what is wrong.

use std::time::Duration;

use humantime::DurationError;

/// Parses numbers followed by units: `ns`, `us` (or `µs`), `ms`, `s`, `m`,
/// `h`, `d`, and their longer names. A unit is required: a bare `5` could
/// mean seconds or milliseconds, and guessing wrong is worse than asking.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    humantime::parse_duration(text).map_err(|err| match err {
        DurationError::Empty => format!("`{text}` has no unit: write it as 5s, 500ms, 1.5m"),
        DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            format!("`{text}` has no unit: write it as 5s, 500ms, 1.5m")
        }
        DurationError::UnknownUnit { unit, .. } => {
            format!("`{unit}` is not a unit of time: use ns, us, ms, s, m or h")
        }
        DurationError::NumberOverflow => format!("`{text}` is too long a time"),
        DurationError::InvalidCharacter(_) | DurationError::NumberExpected(_) => {
            format!("`{text}` is not a number followed by a unit")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fractions_are_understood() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse(" 10 ms "), Ok(Duration::from_millis(10)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse("5").unwrap_err().contains("no unit"));
        assert!(parse("5 parsecs").unwrap_err().contains("not a unit"));
        assert!(parse("ms").unwrap_err().contains("number"));
        assert!(parse("1.2.3s").unwrap_err().contains("number"));
        assert!(parse("").unwrap_err().contains("no unit"));
        assert!(parse("1e30h").unwrap_err().contains("not a unit"));
        assert!(
            parse("99999999999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
    }
}
