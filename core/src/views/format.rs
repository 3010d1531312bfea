//! How numbers, prices, spans of time and places read in aloft's views.

/// `$1.23`, with more digits for small prices (`$0.0123`).
pub fn price(value: f64) -> String {
    if value < 0.1 {
        format!("${value:.4}")
    } else {
        format!("${value:.2}")
    }
}

/// `8` for whole numbers, `0.5` otherwise (at most three decimals).
pub fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A span of seconds: `42s`, `3m 5s`, `2h 10m` (negative spans read as `0s`).
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long ago Unix time `at` was, seen at `now`: `3m 5s ago`.
pub fn ago(now: i64, at: i64) -> String {
    format!("{} ago", duration(now - at))
}

/// Where something runs: `aws (us-east-1, us-east-1a)`, `local (local)`.
pub fn infra(cloud: &str, region: &str, zone: Option<&str>) -> String {
    match zone {
        Some(zone) => format!("{cloud} ({region}, {zone})"),
        None => format!("{cloud} ({region})"),
    }
}

/// `text` cut to `width` characters, `...` marking the cut (SkyPilot truncates
/// long fields the same way).
pub fn shortened(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(3)).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_prices_and_spans_read_as_the_tables_show_them() {
        assert_eq!(price(32.7726), "$32.77");
        assert_eq!(price(0.0116), "$0.0116");
        assert_eq!(number(8.0), "8");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1.0 / 3.0), "0.333");
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(185), "3m 5s");
        assert_eq!(duration(7_800), "2h 10m");
        assert_eq!(ago(100, 58), "42s ago");
        assert_eq!(
            infra("aws", "us-east-1", Some("us-east-1a")),
            "aws (us-east-1, us-east-1a)"
        );
        assert_eq!(shortened("abcdefgh", 6), "abc...");
        assert_eq!(shortened("训练", 6), "训练");
    }
}
