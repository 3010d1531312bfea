//! YAML output in SkyPilot's task format.
//!
//! A small block-style emitter rather than `serde_yaml`: `serde_yaml` quotes strings
//! by YAML 1.2 rules, so `yes`, `on` or `010` would come back as a boolean or a
//! number through PyYAML-style (YAML 1.1) reading. Here a string is written plain
//! only when [`resolve_plain`] reads it back as the same string, which makes the
//! output round-trip through [`super::TaskChain::from_yaml_str`].

use super::config::TaskConfig;
use super::envs::SecretValue;
use super::resources::{ImageId, Quantity, ResourceSet, Resources};
use super::service::{ReadinessProbe, ServiceSpec, TargetQps};
use super::spec::{DataRef, Task, VolumeMount, Workdir, redact};
use super::storage::FileMount;
use super::units::{format_accelerator, format_infra, format_port};
use super::yaml::{Value, resolve_plain};

/// An output tree, keys in the order written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

/// Builds mappings, skipping absent values.
#[derive(Default)]
struct MapOut(Vec<(String, Out)>);

impl MapOut {
    fn put(&mut self, key: &str, v: impl Into<Option<Out>>) {
        if let Some(v) = v.into() {
            self.0.push((key.to_string(), v));
        }
    }
    fn done(self) -> Out {
        Out::Map(self.0)
    }
}

fn s(v: impl Into<String>) -> Out {
    Out::Str(v.into())
}

fn opt_s(v: &Option<String>) -> Option<Out> {
    v.as_ref().map(|v| s(v.clone()))
}

fn u(v: u64) -> Out {
    Out::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn json(v: &serde_json::Value) -> Out {
    use serde_json::Value as J;
    match v {
        J::Null => Out::Null,
        J::Bool(b) => Out::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Out::Int(i),
            None => Out::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(x) => s(x.clone()),
        J::Array(a) => Out::Seq(a.iter().map(json).collect()),
        J::Object(o) => Out::Map(o.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

/// The task as an output tree; secrets as `<redacted>` unless `with_secrets`,
/// including where they were substituted into other fields.
pub(crate) fn task_out(t: &Task, with_secrets: bool) -> Out {
    let out = task_out_raw(t, with_secrets);
    if with_secrets {
        out
    } else {
        redact_out(out, &t.secret_values())
    }
}

fn redact_out(out: Out, secrets: &[&str]) -> Out {
    match out {
        Out::Str(x) => Out::Str(redact(&x, secrets)),
        Out::Seq(items) => Out::Seq(items.into_iter().map(|i| redact_out(i, secrets)).collect()),
        Out::Map(entries) => Out::Map(
            entries
                .into_iter()
                .map(|(k, v)| (redact(&k, secrets), redact_out(v, secrets)))
                .collect(),
        ),
        other => other,
    }
}

fn task_out_raw(t: &Task, with_secrets: bool) -> Out {
    let mut m = MapOut::default();
    m.put("name", opt_s(&t.name));
    m.put(
        "workdir",
        t.workdir.as_ref().map(|w| match w {
            Workdir::Local(p) => s(p.clone()),
            Workdir::Git { url, git_ref } => {
                let mut g = MapOut::default();
                g.put("url", s(url.clone()));
                g.put("ref", opt_s(git_ref));
                g.done()
            }
        }),
    );
    if t.num_nodes != 1 {
        m.put("num_nodes", Out::Int(i64::from(t.num_nodes)));
    }
    if t.resources != ResourceSet::default() {
        m.put("resources", resource_set_out(&t.resources));
    }
    if !t.envs.is_empty() {
        m.put(
            "envs",
            Out::Map(
                t.envs
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v.clone())))
                    .collect(),
            ),
        );
    }
    if !t.secrets.is_empty() {
        let secrets = t.secrets.iter().map(|(k, v)| {
            let value = match v {
                SecretValue::Inline(x) if with_secrets => s(x.expose()),
                SecretValue::Inline(_) => s("<redacted>"),
                SecretValue::Managed => Out::Null,
            };
            (k.clone(), value)
        });
        m.put("secrets", Out::Map(secrets.collect()));
    }
    if !t.managed_secrets.is_empty() {
        let items = t.managed_secrets.iter().map(|ms| match &ms.mount_path {
            None => s(ms.name.clone()),
            Some(p) => Out::Map(vec![(
                ms.name.clone(),
                Out::Map(vec![("mount_path".to_string(), s(p.clone()))]),
            )]),
        });
        m.put("managed_secrets", Out::Seq(items.collect()));
    }
    if !t.file_mounts.is_empty() {
        let mounts = t
            .file_mounts
            .iter()
            .map(|(k, v)| (k.clone(), file_mount_out(v)));
        m.put("file_mounts", Out::Map(mounts.collect()));
    }
    if !t.volumes.is_empty() {
        let vols = t.volumes.iter().map(|(k, v)| {
            let out = match v {
                VolumeMount::Name(n) => s(n.clone()),
                VolumeMount::Spec(j) => json(j),
            };
            (k.clone(), out)
        });
        m.put("volumes", Out::Map(vols.collect()));
    }
    let data = |d: &DataRef| Out::Map(vec![(d.uri.clone(), Out::Float(d.size_gb))]);
    m.put("inputs", t.inputs.as_ref().map(data));
    m.put("outputs", t.outputs.as_ref().map(data));
    m.put("service", t.service.as_ref().map(service_out));
    m.put("pool", t.pool.as_ref().map(pool_out));
    m.put("config", t.config.as_ref().map(config_out));
    m.put("event_callback", opt_s(&t.event_callback));
    m.put("api_server_access", t.api_server_access.map(Out::Bool));
    m.put("setup", opt_s(&t.setup));
    m.put("run", opt_s(&t.run));
    m.done()
}

fn resource_set_out(set: &ResourceSet) -> Out {
    match set {
        ResourceSet::AnyOf(v) if v.len() == 1 => resources_out(&v[0]),
        ResourceSet::AnyOf(v) => Out::Map(vec![(
            "any_of".to_string(),
            Out::Seq(v.iter().map(resources_out).collect()),
        )]),
        ResourceSet::Ordered(v) => Out::Map(vec![(
            "ordered".to_string(),
            Out::Seq(v.iter().map(resources_out).collect()),
        )]),
    }
}

fn quantity_out(q: &Quantity) -> Out {
    match q {
        Quantity::Exact(n) => Out::Float(*n),
        Quantity::AtLeast(n) => s(format!("{n}+")),
    }
}

fn resources_out(r: &Resources) -> Out {
    let mut m = MapOut::default();
    m.put("infra", format_infra(&r.infra).map(s));
    m.put("cpus", r.cpus.as_ref().map(quantity_out));
    m.put("memory", r.memory.as_ref().map(quantity_out));
    m.put(
        "accelerators",
        r.accelerators.as_ref().map(|a| s(format_accelerator(a))),
    );
    m.put("instance_type", opt_s(&r.instance_type));
    if r.use_spot {
        m.put("use_spot", Out::Bool(true));
    }
    m.put(
        "job_recovery",
        r.job_recovery.as_ref().map(|j| {
            let mut o = MapOut::default();
            o.put("strategy", opt_s(&j.strategy));
            o.put(
                "max_restarts_on_errors",
                Out::Int(i64::from(j.max_restarts_on_errors)),
            );
            if !j.recover_on_exit_codes.is_empty() {
                let codes = j
                    .recover_on_exit_codes
                    .iter()
                    .map(|c| Out::Int(i64::from(*c)));
                o.put("recover_on_exit_codes", Out::Seq(codes.collect()));
            }
            o.done()
        }),
    );
    m.put("disk_size", r.disk_size_gib.map(u));
    m.put("disk_tier", opt_s(&r.disk_tier));
    m.put("network_tier", opt_s(&r.network_tier));
    m.put("local_disk", opt_s(&r.local_disk));
    m.put("max_hourly_cost", r.max_hourly_cost.map(Out::Float));
    if !r.ports.is_empty() {
        m.put(
            "ports",
            Out::Seq(r.ports.iter().map(|p| s(format_port(p))).collect()),
        );
    }
    if !r.labels.is_empty() {
        let labels = r.labels.iter().map(|(k, v)| (k.clone(), s(v.clone())));
        m.put("labels", Out::Map(labels.collect()));
    }
    m.put("accelerator_args", r.accelerator_args.as_ref().map(json));
    m.put(
        "image_id",
        r.image_id.as_ref().map(|i| match i {
            ImageId::Single(x) => s(x.clone()),
            ImageId::Docker(x) => s(format!("docker:{x}")),
            ImageId::PerRegion(map) => {
                Out::Map(map.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
            }
        }),
    );
    m.put(
        "autostop",
        r.autostop.as_ref().map(|a| match a.idle_minutes {
            None => Out::Bool(false),
            Some(idle) => {
                let mut o = MapOut::default();
                o.put("idle_minutes", u(idle));
                o.put("down", Out::Bool(a.down));
                o.put("wait_for", opt_s(&a.wait_for));
                o.put("hook", opt_s(&a.hook));
                o.put("hook_timeout", a.hook_timeout.map(u));
                o.done()
            }
        }),
    );
    m.put("priority", r.priority.map(|p| Out::Int(i64::from(p))));
    m.put("priority_class", opt_s(&r.priority_class));
    if !r.volumes.is_empty() {
        let vols = r.volumes.iter().map(|v| {
            let mut o = MapOut::default();
            o.put("path", opt_s(&v.path));
            o.put("name", opt_s(&v.name));
            o.put("disk_size", v.disk_size_gib.map(u));
            o.put("disk_tier", opt_s(&v.disk_tier));
            o.put("storage_type", opt_s(&v.storage_type));
            o.put("attach_mode", opt_s(&v.attach_mode));
            o.put("auto_delete", v.auto_delete.map(Out::Bool));
            o.done()
        });
        m.put("volumes", Out::Seq(vols.collect()));
    }
    m.done()
}

fn file_mount_out(f: &FileMount) -> Out {
    match f {
        FileMount::Path(p) => s(p.clone()),
        FileMount::Storage(st) => {
            let mut m = MapOut::default();
            m.put("name", opt_s(&st.name));
            if st.source_is_list {
                m.put(
                    "source",
                    Out::Seq(st.source.iter().map(|x| s(x.clone())).collect()),
                );
            } else {
                m.put("source", st.source.first().map(|x| s(x.clone())));
            }
            m.put("store", opt_s(&st.store));
            m.put("persistent", st.persistent.map(Out::Bool));
            m.put("mode", st.mode.map(|x| s(x.as_str())));
            m.put("type", opt_s(&st.mount_type));
            m.put("config", st.config.as_ref().map(json));
            m.done()
        }
    }
}

fn probe_out(p: &ReadinessProbe) -> Out {
    if p.short_form {
        return s(p.path.clone());
    }
    let mut m = MapOut::default();
    m.put("path", s(p.path.clone()));
    m.put("initial_delay_seconds", p.initial_delay_seconds.map(u));
    m.put("timeout_seconds", p.timeout_seconds.map(u));
    m.put(
        "endpoint_probe_interval_seconds",
        p.endpoint_probe_interval_seconds.map(u),
    );
    m.put(
        "consecutive_failure_threshold_timeout",
        p.consecutive_failure_threshold_timeout.map(u),
    );
    m.put(
        "post_data",
        p.post_data.as_ref().map(|d| match d {
            // A JSON body that is not an object was written as a JSON string.
            serde_json::Value::Object(_) => json(d),
            other => s(other.to_string()),
        }),
    );
    if !p.headers.is_empty() {
        let h = p.headers.iter().map(|(k, v)| (k.clone(), s(v.clone())));
        m.put("headers", Out::Map(h.collect()));
    }
    m.done()
}

fn service_out(sv: &ServiceSpec) -> Out {
    let mut m = MapOut::default();
    m.put(
        "readiness_probe",
        sv.readiness_probe.as_ref().map(probe_out),
    );
    m.put(
        "replica_policy",
        sv.replica_policy.as_ref().map(|p| {
            let mut o = MapOut::default();
            let n = |v: Option<u32>| v.map(|v| Out::Int(i64::from(v)));
            o.put("min_replicas", Out::Int(i64::from(p.min_replicas)));
            o.put("max_replicas", n(p.max_replicas));
            o.put("num_overprovision", n(p.num_overprovision));
            o.put(
                "target_qps_per_replica",
                p.target_qps_per_replica.as_ref().map(|t| match t {
                    TargetQps::Uniform(q) => Out::Float(*q),
                    TargetQps::PerAccelerator(map) => Out::Map(
                        map.iter()
                            .map(|(k, v)| (k.clone(), Out::Float(*v)))
                            .collect(),
                    ),
                }),
            );
            o.put(
                "dynamic_ondemand_fallback",
                p.dynamic_ondemand_fallback.map(Out::Bool),
            );
            o.put(
                "base_ondemand_fallback_replicas",
                n(p.base_ondemand_fallback_replicas),
            );
            o.put("spot_placer", opt_s(&p.spot_placer));
            o.put("upscale_delay_seconds", p.upscale_delay_seconds.map(u));
            o.put("downscale_delay_seconds", p.downscale_delay_seconds.map(u));
            o.done()
        }),
    );
    m.put("replicas", sv.replicas.map(|r| Out::Int(i64::from(r))));
    m.put("ports", sv.ports.map(|p| Out::Int(i64::from(p))));
    m.put("load_balancing_policy", opt_s(&sv.load_balancing_policy));
    m.put(
        "load_balancer",
        sv.load_balancer.as_ref().map(|lb| {
            let mut o = MapOut::default();
            o.put("stream_timeout_seconds", lb.stream_timeout_seconds.map(u));
            o.done()
        }),
    );
    m.put(
        "tls",
        sv.tls.as_ref().map(|t| {
            Out::Map(vec![
                ("keyfile".to_string(), s(t.keyfile.clone())),
                ("certfile".to_string(), s(t.certfile.clone())),
            ])
        }),
    );
    m.put("pool", sv.pool.as_ref().map(pool_out));
    m.done()
}

fn pool_out(p: &super::service::PoolSpec) -> Out {
    let mut m = MapOut::default();
    let n = |v: Option<u32>| v.map(|v| Out::Int(i64::from(v)));
    m.put("workers", n(p.workers));
    m.put("min_workers", n(p.min_workers));
    m.put("max_workers", n(p.max_workers));
    m.put("queue_length_threshold", n(p.queue_length_threshold));
    m.put("upscale_delay_seconds", p.upscale_delay_seconds.map(u));
    m.put("downscale_delay_seconds", p.downscale_delay_seconds.map(u));
    m.done()
}

fn config_out(c: &TaskConfig) -> Out {
    let mut entries: Vec<(String, Out)> = c
        .overrides
        .iter()
        .map(|(k, v)| (k.clone(), json(v)))
        .collect();
    if !c.hooks.is_empty() {
        let hooks = c.hooks.iter().map(|h| {
            let mut m = MapOut::default();
            m.put("run", s(h.run.clone()));
            if !h.events.is_empty() {
                m.put(
                    "events",
                    Out::Seq(h.events.iter().map(|e| s(e.clone())).collect()),
                );
            }
            m.put("timeout", h.timeout.map(u));
            m.done()
        });
        entries.push(("hooks".to_string(), Out::Seq(hooks.collect())));
    }
    Out::Map(entries)
}

/// Writes an output tree as a YAML document.
pub(crate) fn write_yaml(out: &Out) -> String {
    let mut buf = String::new();
    match out {
        Out::Map(m) if !m.is_empty() => write_map(&mut buf, m, 0),
        Out::Seq(v) if !v.is_empty() => write_seq(&mut buf, v, 0),
        other => {
            buf.push_str(&inline(other).unwrap_or_default());
            buf.push('\n');
        }
    }
    buf
}

/// A value that fits on one line, or `None` for non-empty collections and
/// multi-line strings written as block literals.
fn inline(v: &Out) -> Option<String> {
    Some(match v {
        Out::Null => "null".to_string(),
        Out::Bool(b) => b.to_string(),
        Out::Int(i) => i.to_string(),
        Out::Float(f) => float(*f),
        Out::Str(x) if literal_ok(x) => return None,
        Out::Str(x) => scalar(x),
        Out::Seq(v) if v.is_empty() => "[]".to_string(),
        Out::Map(m) if m.is_empty() => "{}".to_string(),
        Out::Seq(_) | Out::Map(_) => return None,
    })
}

fn write_map(buf: &mut String, m: &[(String, Out)], indent: usize) {
    for (k, v) in m {
        buf.push_str(&" ".repeat(indent));
        buf.push_str(&scalar(k));
        buf.push(':');
        write_value(buf, v, indent);
    }
}

fn write_seq(buf: &mut String, items: &[Out], indent: usize) {
    for item in items {
        match item {
            Out::Map(m) if !m.is_empty() => {
                let mut inner = String::new();
                write_map(&mut inner, m, indent + 2);
                buf.push_str(&" ".repeat(indent));
                buf.push_str("- ");
                buf.push_str(&inner[indent + 2..]);
            }
            _ => {
                buf.push_str(&" ".repeat(indent));
                buf.push('-');
                write_value(buf, item, indent);
            }
        }
    }
}

/// Writes what follows `key:` or `-`.
fn write_value(buf: &mut String, v: &Out, indent: usize) {
    if let Some(text) = inline(v) {
        buf.push(' ');
        buf.push_str(&text);
        buf.push('\n');
        return;
    }
    match v {
        Out::Map(m) => {
            buf.push('\n');
            write_map(buf, m, indent + 2);
        }
        Out::Seq(items) => {
            buf.push('\n');
            write_seq(buf, items, indent + 2);
        }
        Out::Str(x) => write_literal(buf, x, indent + 2),
        _ => {}
    }
}

fn literal_ok(x: &str) -> bool {
    x.contains('\n')
        && !x.starts_with([' ', '\t', '\n'])
        && !x.trim_end_matches('\n').is_empty()
        && x.chars().all(|c| c == '\n' || c == '\t' || printable(c))
        && !x.contains(" \n")
        && !x.contains("\t\n")
        && !x.ends_with([' ', '\t'])
}

fn write_literal(buf: &mut String, x: &str, indent: usize) {
    let trailing = x.len() - x.trim_end_matches('\n').len();
    buf.push_str(match trailing {
        0 => " |-\n",
        1 => " |\n",
        _ => " |+\n",
    });
    let body = x.trim_end_matches('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            buf.push_str(&" ".repeat(indent));
            buf.push_str(line);
        }
        buf.push('\n');
    }
    for _ in 1..trailing {
        buf.push('\n');
    }
}

fn printable(c: char) -> bool {
    !c.is_control() && c != '\u{feff}' && !matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// A one-line string: plain when it reads back as itself, else double-quoted.
fn scalar(x: &str) -> String {
    let plain_ok = !x.is_empty()
        && resolve_plain(x.to_string()) == Value::Str(x.to_string())
        && x.chars().all(|c| printable(c) && c != '\t')
        && !x.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', ' ', '<', '=', '~',
        ])
        && !x.ends_with([' ', ':'])
        && !x.contains(": ")
        && !x.contains(" #")
        && !x.contains([',', '[', ']', '{', '}']);
    if plain_ok {
        return x.to_string();
    }
    let mut q = String::with_capacity(x.len() + 2);
    q.push('"');
    for c in x.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if printable(c) => q.push(c),
            c if (c as u32) <= 0xffff => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    q.push('"');
    q
}

/// A float PyYAML reads back as the same float (a dot is required).
fn float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    let text = format!("{f:?}");
    match text.split_once('e') {
        None => text,
        Some((mant, exp)) => {
            let mant = if mant.contains('.') {
                mant.to_string()
            } else {
                format!("{mant}.0")
            };
            let exp = if exp.starts_with('-') {
                exp.to_string()
            } else {
                format!("+{exp}")
            };
            format!("{mant}e{exp}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::yaml::load_documents;

    #[test]
    fn strings_round_trip_through_the_reader() {
        let cases = [
            "plain",
            "yes",
            "on",
            "010",
            "1_000",
            "0x1f",
            "1.5",
            "null",
            "~",
            "",
            " lead",
            "a: b",
            "a #b",
            "- x",
            "{x}",
            "line\nline",
            "ends\n",
            "keep\n\n",
            "\ttab",
            "é€",
            "ctl\u{1}",
            "quote\"back\\",
            "x:",
            "#c",
            "multi\n  indented\n",
            " \n",
            "a \nb",
        ];
        for c in cases {
            let out = Out::Map(vec![("k".to_string(), s(c)), (c.to_string(), Out::Int(1))]);
            let text = write_yaml(&out);
            let docs = load_documents(&text).unwrap_or_else(|e| panic!("{c:?}: {text}: {e:?}"));
            let Value::Map(entries) = &docs[0].value else {
                panic!("map expected for {c:?}: {text}")
            };
            assert_eq!(entries[0].1.value, Value::Str(c.to_string()), "{text}");
            assert_eq!(entries[1].0.value, Value::Str(c.to_string()), "{text}");
        }
    }

    #[test]
    fn floats_keep_a_dot() {
        assert_eq!(float(8.0), "8.0");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(1e20), "1.0e+20");
        assert_eq!(resolve_plain(float(1e-7)), Value::Float(1e-7));
    }
}
