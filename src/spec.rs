//! Parsing what people type: port specs (`8080`, `:8080`, `tcp:8080`,
//! `udp:53`) and durations (`500ms`, `3s`, `1m`).
//!
//! Both parsers return a one-line error naming the bad value; they never
//! panic, whatever the input (a property test holds them to that).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::model::Proto;

/// A port, optionally narrowed to one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSpec {
    /// `None` matches both TCP and UDP.
    pub proto: Option<Proto>,
    /// 1–65535.
    pub port: u16,
}

impl PortSpec {
    /// Does a socket with this protocol and port match?
    pub fn matches(&self, proto: Proto, port: u16) -> bool {
        self.port == port && self.proto.is_none_or(|p| p == proto)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            Some(p) => write!(f, "{p}:{}", self.port),
            None => write!(f, "{}", self.port),
        }
    }
}

impl FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shown = crate::escape::escape(s);
        let t = s.trim();
        let (proto, num) = match t.split_once(':') {
            None => (None, t),
            Some(("", n)) => (None, n),
            Some((p, n)) => match p.to_ascii_lowercase().as_str() {
                "tcp" => (Some(Proto::Tcp), n),
                "udp" => (Some(Proto::Udp), n),
                _ => {
                    return Err(format!(
                        "invalid port '{shown}': unknown protocol '{}' (use tcp: or udp:)",
                        crate::escape::escape(p)
                    ));
                }
            },
        };
        if num.is_empty() {
            return Err(format!("invalid port '{shown}': no port number"));
        }
        if !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid port '{shown}': expected a number from 1 to 65535"
            ));
        }
        match num.parse::<u32>() {
            Ok(n @ 1..=65535) => Ok(PortSpec {
                proto,
                port: n as u16,
            }),
            _ => Err(format!("invalid port '{shown}': must be from 1 to 65535")),
        }
    }
}

/// Parse a duration: a number followed by `ms`, `s`, `m` or `h` (a bare
/// number means seconds). Fractions are allowed: `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let shown = crate::escape::escape(s);
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid duration '{shown}': use a number with ms, s, m or h (e.g. 500ms, 3s)"
            ));
        }
    };
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid duration '{shown}': use a number with ms, s, m or h (e.g. 500ms, 3s)")
    })?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("invalid duration '{shown}': out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let p = |s: &str| s.parse::<PortSpec>();
        assert_eq!(
            p("8080"),
            Ok(PortSpec {
                proto: None,
                port: 8080
            })
        );
        assert_eq!(
            p(":8080"),
            Ok(PortSpec {
                proto: None,
                port: 8080
            })
        );
        assert_eq!(
            p("tcp:8080"),
            Ok(PortSpec {
                proto: Some(Proto::Tcp),
                port: 8080
            })
        );
        assert_eq!(
            p("UDP:53"),
            Ok(PortSpec {
                proto: Some(Proto::Udp),
                port: 53
            })
        );
        for bad in [
            "0",
            "65536",
            "abc",
            "-5",
            "",
            ":",
            "sctp:80",
            "tcp:",
            "8080x",
            "99999999999999999999",
        ] {
            let e = p(bad).expect_err(bad);
            assert!(e.starts_with("invalid port"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["soon", "", "ms", "-1s", "1x", "1e400s", "."] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn port_spec_parser_never_panics(s in any::<String>()) {
            let _ = s.parse::<PortSpec>();
        }

        #[test]
        fn duration_parser_never_panics(s in any::<String>()) {
            let _ = parse_duration(&s);
        }

        #[test]
        fn valid_ports_round_trip(port in 1u16..=65535, proto in 0u8..3) {
            let text = match proto {
                0 => port.to_string(),
                1 => format!("tcp:{port}"),
                _ => format!("udp:{port}"),
            };
            let spec: PortSpec = text.parse().map_err(TestCaseError::fail)?;
            prop_assert_eq!(spec.port, port);
            prop_assert_eq!(spec.to_string(), text);
        }

        #[test]
        fn durations_with_units_parse(n in 0u32..100_000, unit in prop::sample::select(vec!["ms", "s", "m"])) {
            let d = parse_duration(&format!("{n}{unit}")).map_err(TestCaseError::fail)?;
            let ms = match unit { "ms" => u64::from(n), "s" => u64::from(n) * 1000, _ => u64::from(n) * 60_000 };
            prop_assert_eq!(d.as_millis() as u64, ms);
        }
    }
}
