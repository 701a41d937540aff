//! Durations as people write them: `5s`, `500ms`, `1.5m`.

use std::time::Duration;

/// Parses a number followed by a unit: `ns`, `us` (or `µs`), `ms`, `s`, `m`
/// or `h`. A unit is required: a bare `5` could mean seconds or
/// milliseconds, and guessing wrong is worse than asking.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit: write it as 5s, 500ms, 1.5m"))?;
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "`{other}` is not a unit of time: use ns, us, ms, s, m or h"
            ));
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("`{text}` is too long a time"))
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
