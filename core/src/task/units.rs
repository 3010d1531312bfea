//! Pure parsers for the string forms in task files: accelerators, infra, sizes,
//! durations, ports and `+` quantities. Each returns a plain message on error; the
//! caller adds the location.

use super::resources::{AcceleratorSpec, Infra, PortRange, Quantity};

/// Every cloud SkyPilot 0.14 knows (`ALL_CLOUDS`), lower case, plus aloft's own
/// `local` provider.
pub const CLOUDS: &[&str] = &[
    "local",
    "aws",
    "azure",
    "gcp",
    "ibm",
    "lambda",
    "scp",
    "oci",
    "kubernetes",
    "runpod",
    "vast",
    "vsphere",
    "cudo",
    "fluidstack",
    "paperspace",
    "primeintellect",
    "do",
    "nebius",
    "ssh",
    "slurm",
    "hyperbolic",
    "seeweb",
    "shadeform",
    "yotta",
    "mithril",
    "verda",
];

/// Canonical lower-case cloud name for `name` (`k8s` is `kubernetes`).
pub fn canonical_cloud(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    let lower = if lower == "k8s" {
        "kubernetes".to_string()
    } else {
        lower
    };
    if CLOUDS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    // A name one edit away from a known cloud is a typo. Any other well-formed name
    // may be a third-party provider installed under that name: the optimizer tells
    // when no such provider is enabled.
    let typo = CLOUDS
        .iter()
        .any(|known| strsim::damerau_levenshtein(known, &lower) <= 1);
    let well_formed = lower.len() >= 2
        && lower.starts_with(|c: char| c.is_ascii_lowercase())
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if well_formed && !typo {
        Ok(lower)
    } else {
        Err(format!("unknown cloud `{name}`"))
    }
}

/// Parses `infra`: `cloud[/region[/zone]]` with `*` wildcards; Kubernetes and SSH
/// take everything after the cloud as the context / pool name.
pub fn parse_infra(s: &str) -> Result<Infra, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("infra must not be empty".to_string());
    }
    if s == "*" {
        return Ok(Infra::default());
    }
    let (cloud_part, rest) = match s.split_once('/') {
        Some((c, r)) => (c, Some(r)),
        None => (s, None),
    };
    let cloud = if cloud_part == "*" {
        None
    } else {
        Some(canonical_cloud(cloud_part)?)
    };
    let wild = |p: &str| -> Result<Option<String>, String> {
        match p {
            "" => Err(format!("empty part in infra `{s}`")),
            "*" => Ok(None),
            p if p.chars().any(char::is_whitespace) => {
                Err(format!("infra `{s}` must not contain spaces"))
            }
            p => Ok(Some(p.to_string())),
        }
    };
    let Some(rest) = rest else {
        return Ok(Infra {
            cloud,
            region: None,
            zone: None,
        });
    };
    if matches!(cloud.as_deref(), Some("kubernetes" | "ssh")) {
        // Contexts may contain slashes (`arn:aws:eks:.../cluster/name`).
        return Ok(Infra {
            cloud,
            region: wild(rest)?,
            zone: None,
        });
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() > 2 {
        return Err(format!(
            "infra `{s}` has too many parts; expected cloud[/region[/zone]]"
        ));
    }
    let region = wild(parts[0])?;
    let zone = match parts.get(1) {
        Some(z) => wild(z)?,
        None => None,
    };
    if cloud.is_none() && region.is_none() && zone.is_none() {
        return Ok(Infra::default());
    }
    Ok(Infra {
        cloud,
        region,
        zone,
    })
}

/// Checks a legacy `region:` / `zone:` value for `cloud` so that it can be written
/// back as `infra:`: no spaces, no `*`, no `/` (except in a Kubernetes context or
/// SSH pool, which have no zones).
pub fn check_location(cloud: Option<&str>, value: &str, is_zone: bool) -> Result<(), String> {
    let nested = matches!(cloud, Some("kubernetes" | "ssh"));
    if value.is_empty() || value == "*" || value.chars().any(char::is_whitespace) {
        return Err(format!("invalid location `{value}`"));
    }
    if is_zone && nested {
        return Err("Kubernetes and SSH infra have no zones".to_string());
    }
    if value.contains('/') && (is_zone || !nested) {
        return Err(format!("invalid location `{value}`: `/` is not allowed"));
    }
    Ok(())
}

/// Writes an [`Infra`] back in `infra:` form; `None` when it is unconstrained.
pub fn format_infra(infra: &Infra) -> Option<String> {
    let cloud = infra.cloud.as_deref().unwrap_or("*");
    match (&infra.region, &infra.zone) {
        (None, None) => infra.cloud.clone(),
        (Some(r), None) => Some(format!("{cloud}/{r}")),
        (r, Some(z)) => Some(format!("{cloud}/{}/{z}", r.as_deref().unwrap_or("*"))),
    }
}

/// Parses a size with optional unit into GiB. Units are binary whether or not they
/// carry an `i` (`16GB` = `16GiB` = `16G`), as SkyPilot's `parse_memory_resource`.
/// A bare number is GiB.
pub fn parse_size_gib(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = parse_decimal(num).ok_or_else(|| format!("invalid size `{s}`"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .or_else(|| unit.strip_suffix('i'))
        .unwrap_or(&unit);
    let factor = match unit {
        "" | "g" => 1.0,
        "b" => 1.0 / 1024.0 / 1024.0 / 1024.0,
        "k" => 1.0 / 1024.0 / 1024.0,
        "m" => 1.0 / 1024.0,
        "t" => 1024.0,
        "p" => 1024.0 * 1024.0,
        _ => return Err(format!("invalid size unit in `{s}`")),
    };
    Ok(value * factor)
}

fn parse_decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    if int.is_empty() || frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Parses `cpus`/`memory` strings: `"8"`, `"8+"`, and with `units` (memory),
/// `"32GB+"`. The amount must be positive.
pub fn parse_quantity(s: &str, units: bool) -> Result<Quantity, String> {
    let t = s.trim();
    let (body, at_least) = match t.strip_suffix('+') {
        Some(b) => (b, true),
        None => (t, false),
    };
    let n = if units {
        parse_size_gib(body)?
    } else {
        parse_decimal(body.trim()).ok_or_else(|| format!("invalid amount `{s}`"))?
    };
    if n <= 0.0 {
        return Err(format!("`{s}` must be greater than 0"));
    }
    Ok(if at_least {
        Quantity::AtLeast(n)
    } else {
        Quantity::Exact(n)
    })
}

/// Parses one accelerator request string: `A100`, `A100:8`, `A100:0.5`,
/// `40GB+`, `40GB`, `80GB+:2`, `nvidia:24GB:2`, `amd:192GB+`.
pub fn parse_accelerator(s: &str) -> Result<AcceleratorSpec, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("accelerator must not be empty".to_string());
    }
    let parts: Vec<&str> = t.split(':').map(str::trim).collect();
    if let Some(mem_idx) = parts.iter().position(|p| parse_gpu_memory(p).is_some()) {
        let (memory_gb, at_least) = parse_gpu_memory(parts[mem_idx]).unwrap_or((0.0, false));
        let manufacturer = match mem_idx {
            0 => None,
            1 if valid_name(parts[0]) => Some(parts[0].to_ascii_lowercase()),
            _ => return Err(format!("invalid accelerator `{s}`")),
        };
        let count = match parts.len() - mem_idx {
            1 => 1.0,
            2 => parse_count(parts[mem_idx + 1], s)?,
            _ => return Err(format!("invalid accelerator `{s}`")),
        };
        return Ok(AcceleratorSpec::ByMemory {
            memory_gb,
            at_least,
            manufacturer,
            count,
        });
    }
    let (name, count) = match parts.as_slice() {
        [name] => (*name, 1.0),
        [name, count] => (*name, parse_count(count, s)?),
        _ => {
            return Err(format!(
                "invalid accelerator `{s}`; expected NAME or NAME:COUNT"
            ));
        }
    };
    if !valid_name(name) {
        return Err(format!("invalid accelerator name `{name}`"));
    }
    Ok(AcceleratorSpec::Named {
        name: name.to_string(),
        count,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_count(c: &str, whole: &str) -> Result<f64, String> {
    if c.is_empty() {
        return Err(format!("missing accelerator count after `:` in `{whole}`"));
    }
    let n: f64 =
        parse_decimal(c).ok_or_else(|| format!("invalid accelerator count `{c}` in `{whole}`"))?;
    if n <= 0.0 {
        return Err(format!("accelerator count in `{whole}` must be positive"));
    }
    Ok(n)
}

/// `24GB` / `24GB+` (any case) -> (24.0, at_least).
fn parse_gpu_memory(p: &str) -> Option<(f64, bool)> {
    let (body, at_least) = match p.strip_suffix('+') {
        Some(b) => (b, true),
        None => (p, false),
    };
    let num = body
        .strip_suffix("GB")
        .or_else(|| body.strip_suffix("gb"))
        .or_else(|| body.strip_suffix("Gb"))?;
    let v = parse_decimal(num)?;
    (v > 0.0).then_some((v, at_least))
}

/// Writes an accelerator back in the string form [`parse_accelerator`] reads.
pub fn format_accelerator(spec: &AcceleratorSpec) -> String {
    match spec {
        AcceleratorSpec::Named { name, count } => format!("{name}:{}", format_number(*count)),
        AcceleratorSpec::ByMemory {
            memory_gb,
            at_least,
            manufacturer,
            count,
        } => {
            let mut s = String::new();
            if let Some(m) = manufacturer {
                s.push_str(m);
                s.push(':');
            }
            s.push_str(&format_number(*memory_gb));
            s.push_str("GB");
            if *at_least {
                s.push('+');
            }
            s.push(':');
            s.push_str(&format_number(*count));
            s
        }
    }
}

/// `8` for 8.0, `0.5` for 0.5.
pub fn format_number(n: f64) -> String {
    format!("{n}")
}

/// Parses an autostop duration into minutes: `30` (minutes), `30m`, `2h`, `1d`, `1w`.
pub fn parse_minutes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, factor) = match t.char_indices().last() {
        Some((i, 'm' | 'M')) => (&t[..i], 1),
        Some((i, 'h' | 'H')) => (&t[..i], 60),
        Some((i, 'd' | 'D')) => (&t[..i], 60 * 24),
        Some((i, 'w' | 'W')) => (&t[..i], 60 * 24 * 7),
        _ => (t, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid duration `{s}`; expected minutes or a number with m, h, d or w"
        ));
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("duration `{s}` is too large"))
}

/// Parses one port spec: `8080`, `8000-8010`, `8080,9090` (several).
pub fn parse_ports(s: &str) -> Result<Vec<PortRange>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let start = parse_port(a.trim(), s)?;
        let end = parse_port(b.trim(), s)?;
        if start > end {
            return Err(format!("invalid port range `{part}`: start is after end"));
        }
        out.push(PortRange { start, end });
    }
    Ok(out)
}

/// A single port number, 1..=65535.
pub fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port `{whole}`"));
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(format!("port `{p}` is out of range 1..=65535")),
    }
}

/// Writes a port range back (`8080` or `8000-8010`).
pub fn format_port(p: &PortRange) -> String {
    if p.start == p.end {
        p.start.to_string()
    } else {
        format!("{}-{}", p.start, p.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, count: f64) -> AcceleratorSpec {
        AcceleratorSpec::Named {
            name: name.into(),
            count,
        }
    }

    #[test]
    fn accelerator_strings() {
        assert_eq!(parse_accelerator("A100"), Ok(named("A100", 1.0)));
        assert_eq!(parse_accelerator("A100:8"), Ok(named("A100", 8.0)));
        assert_eq!(parse_accelerator("A100:0.5"), Ok(named("A100", 0.5)));
        assert_eq!(parse_accelerator(" tpu-v2-8 "), Ok(named("tpu-v2-8", 1.0)));
        assert_eq!(
            parse_accelerator("40GB+"),
            Ok(AcceleratorSpec::ByMemory {
                memory_gb: 40.0,
                at_least: true,
                manufacturer: None,
                count: 1.0
            })
        );
        assert_eq!(
            parse_accelerator("nvidia:24GB:2"),
            Ok(AcceleratorSpec::ByMemory {
                memory_gb: 24.0,
                at_least: false,
                manufacturer: Some("nvidia".into()),
                count: 2.0
            })
        );
        for bad in [
            "",
            "A100:",
            "A100:0",
            "A100:-1",
            "A100:x",
            "A:1:2",
            "A 100",
            "nvidia:x:24GB",
        ] {
            assert!(parse_accelerator(bad).is_err(), "{bad} should fail");
        }
        for s in ["A100:8", "A100:0.5", "40GB+:1", "nvidia:24GB:2"] {
            let spec = parse_accelerator(s).expect("valid");
            assert_eq!(parse_accelerator(&format_accelerator(&spec)), Ok(spec));
        }
    }

    #[test]
    fn infra_forms() {
        let i = |c: Option<&str>, r: Option<&str>, z: Option<&str>| Infra {
            cloud: c.map(Into::into),
            region: r.map(Into::into),
            zone: z.map(Into::into),
        };
        assert_eq!(parse_infra("aws"), Ok(i(Some("aws"), None, None)));
        assert_eq!(
            parse_infra("AWS/us-east-1"),
            Ok(i(Some("aws"), Some("us-east-1"), None))
        );
        assert_eq!(
            parse_infra("aws/us-east-1/us-east-1a"),
            Ok(i(Some("aws"), Some("us-east-1"), Some("us-east-1a")))
        );
        assert_eq!(
            parse_infra("*/us-east-1"),
            Ok(i(None, Some("us-east-1"), None))
        );
        assert_eq!(
            parse_infra("aws/*/us-east-1a"),
            Ok(i(Some("aws"), None, Some("us-east-1a")))
        );
        assert_eq!(parse_infra("k8s"), Ok(i(Some("kubernetes"), None, None)));
        assert_eq!(
            parse_infra("kubernetes/arn:aws:eks:x/cluster/c"),
            Ok(i(Some("kubernetes"), Some("arn:aws:eks:x/cluster/c"), None))
        );
        assert_eq!(
            parse_infra("ssh/pool"),
            Ok(i(Some("ssh"), Some("pool"), None))
        );
        assert_eq!(parse_infra("*"), Ok(Infra::default()));
        for bad in ["", "awz", "aws/a/b/c", "aws//x", "aws/", "aws/us east"] {
            assert!(parse_infra(bad).is_err(), "{bad} should fail");
        }
        for s in [
            "aws",
            "aws/us-east-1",
            "*/us-east-1",
            "aws/*/us-east-1a",
            "kubernetes/a/b",
        ] {
            let infra = parse_infra(s).expect("valid");
            assert_eq!(format_infra(&infra).as_deref(), Some(s));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_gib("512"), Ok(512.0));
        assert_eq!(parse_size_gib("1Ti"), Ok(1024.0));
        assert_eq!(parse_size_gib("1TB"), Ok(1024.0));
        assert_eq!(parse_size_gib("512GB"), Ok(512.0));
        assert_eq!(parse_size_gib("512gib"), Ok(512.0));
        assert_eq!(parse_size_gib("2048MB"), Ok(2.0));
        assert_eq!(parse_size_gib("1.5G"), Ok(1.5));
        for bad in ["", "GB", "1XB", "-1", "1.", ".5"] {
            assert!(parse_size_gib(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("8+", false), Ok(Quantity::AtLeast(8.0)));
        assert_eq!(parse_quantity("0.5", false), Ok(Quantity::Exact(0.5)));
        assert_eq!(parse_quantity("32GB+", true), Ok(Quantity::AtLeast(32.0)));
        assert!(parse_quantity("0", false).is_err());
        assert!(parse_quantity("8GB", false).is_err());
        assert!(parse_quantity("++", true).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_minutes("30"), Ok(30));
        assert_eq!(parse_minutes("30m"), Ok(30));
        assert_eq!(parse_minutes("2h"), Ok(120));
        assert_eq!(parse_minutes("1d"), Ok(1440));
        assert_eq!(parse_minutes("1w"), Ok(10080));
        for bad in ["", "h", "1x", "-1h", "99999999999999999999w"] {
            assert!(parse_minutes(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn ports() {
        let r = |start, end| PortRange { start, end };
        assert_eq!(parse_ports("8080"), Ok(vec![r(8080, 8080)]));
        assert_eq!(parse_ports("8000-8010"), Ok(vec![r(8000, 8010)]));
        assert_eq!(
            parse_ports("8080,9090"),
            Ok(vec![r(8080, 8080), r(9090, 9090)])
        );
        for bad in ["", "0", "70000", "9-1", "a", "80-", "8080,"] {
            assert!(parse_ports(bad).is_err(), "{bad} should fail");
        }
    }
}
