//! The nodes of a cluster by role, for clouds that know a cluster's instances by
//! name (or by a tag plus a name): `<cluster>-head` and `<cluster>-worker-<n>`.
//! `run-instances` stays idempotent by creating only [`roles_to_launch`], and
//! [`role_of`] never lets cluster `a` claim a node of cluster `a-worker` (nor back).
//! [`refuse_unlike`] keeps a cluster's nodes alike: a launch of another instance
//! type (or region) into a cluster that has nodes is refused, not mixed in.
//! Used by every bundled cloud provider.

use crate::errors;
use crate::types::ProviderError;

/// A node's role, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `<cluster>-head`.
    Head,
    /// `<cluster>-worker-<n>`, n from 1.
    Worker(u32),
}

/// The name of `cluster`'s node with `role`.
pub fn name_of(cluster: &str, role: Role) -> String {
    match role {
        Role::Head => format!("{cluster}-head"),
        Role::Worker(n) => format!("{cluster}-worker-{n}"),
    }
}

/// The role of the node named `name` in `cluster`; none when it is not one of its
/// nodes (cluster `a`'s names never parse as cluster `a-worker`'s, nor back).
pub fn role_of(cluster: &str, name: &str) -> Option<Role> {
    let rest = name.strip_prefix(cluster)?.strip_prefix('-')?;
    if rest == "head" {
        return Some(Role::Head);
    }
    let digits = rest.strip_prefix("worker-")?;
    let n: u32 = digits.parse().ok()?;
    (n >= 1 && n.to_string() == digits).then_some(Role::Worker(n))
}

/// The roles a cluster that has `existing` must still create to have `count`
/// nodes: the head first when it has none, then the lowest free worker numbers.
pub fn roles_to_launch(existing: &[Role], count: u32) -> Vec<Role> {
    let missing = (count as usize).saturating_sub(existing.len());
    let mut roles = Vec::with_capacity(missing);
    if missing > 0 && !existing.contains(&Role::Head) {
        roles.push(Role::Head);
    }
    let mut n = 1;
    while roles.len() < missing {
        if !existing.contains(&Role::Worker(n)) {
            roles.push(Role::Worker(n));
        }
        n += 1;
    }
    roles
}

/// A node a cluster already has, as [`refuse_unlike`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct Have<'a> {
    /// The cloud's name or id of the node, for the message.
    pub node: &'a str,
    /// Its instance type, when the cloud says.
    pub instance_type: Option<&'a str>,
    /// Its region, where the cloud's listing can hold nodes of other regions.
    pub region: Option<&'a str>,
}

/// Refuses (`ClusterExists`, an invalid request: failover would not help) a launch
/// of `instance_type` in `region` into `cluster` when a node it already has is of
/// another type or in another region: relaunching a cluster adds the missing nodes
/// of the same kind, it never mixes kinds. Types compare without regard to case
/// (Azure names sizes case-insensitively); a node whose type or region the cloud
/// does not say is not counted as different.
pub fn refuse_unlike<'a>(
    cluster: &str,
    instance_type: &str,
    region: &str,
    have: impl IntoIterator<Item = Have<'a>>,
) -> Result<(), ProviderError> {
    let unlike = |h: &Have| {
        h.instance_type
            .is_some_and(|t| !t.eq_ignore_ascii_case(instance_type))
            || h.region.is_some_and(|r| r != region)
    };
    match have.into_iter().find(unlike) {
        None => Ok(()),
        Some(other) => Err(errors::invalid(
            "ClusterExists",
            &format!(
                "cluster {cluster} already has node {} of type {} in {}; a cluster's nodes \
                 are all of one type: launch it with that type, or take it down first",
                other.node,
                other.instance_type.unwrap_or("?"),
                other.region.unwrap_or(region),
            ),
        )),
    }
}

/// The cloud-init `#cloud-config` document that makes a node answer SSH with the
/// host key pair aloft handed `run-instances` (see
/// [`crate::settings::HOST_KEY`]): `ssh_keys` replaces the keys the image would
/// make at first boot. For clouds that take user data.
pub fn cloud_init_host_key(private: &str, public: &str) -> String {
    let indented: String = private
        .trim()
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    format!(
        "#cloud-config\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  \
         ed25519_private: |\n{indented}  ed25519_public: {}\n",
        public.trim()
    )
}

/// The fixed start of an ed25519 public key blob: the length-prefixed type name,
/// then the key's length (32).
const ED25519_HEAD: &[u8] = b"\0\0\0\x0bssh-ed25519\0\0\0\x20";

/// The public host key line `public` (`ssh-ed25519 DATA [comment]`, see
/// [`crate::settings::HOST_KEY`]) as a value that any cloud's labels or tags
/// take, for clouds that cannot hold the line itself: the ed25519 key's 32
/// bytes in lower-case base32 without padding (52 characters of `a-z2-7`).
/// [`host_key_of_label`] turns it back. None when `public` is not an ed25519 key.
pub fn host_key_label(public: &str) -> Option<String> {
    use base64::Engine;
    let mut fields = public.split_whitespace();
    if fields.next() != Some("ssh-ed25519") {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(fields.next()?)
        .ok()?;
    let key = blob.strip_prefix(ED25519_HEAD).filter(|k| k.len() == 32)?;
    Some(data_encoding::BASE32_NOPAD.encode(key).to_ascii_lowercase())
}

/// The public host key line (`ssh-ed25519 DATA`) that a [`host_key_label`]
/// value names (read case-insensitively, as some clouds fold case); none for
/// anything else.
pub fn host_key_of_label(value: &str) -> Option<String> {
    use base64::Engine;
    if value.len() != 52 {
        return None;
    }
    // Strict: the 4 bits left over in 52 characters must be zero.
    let key = data_encoding::BASE32_NOPAD
        .decode(value.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|k| k.len() == 32)?;
    let blob = [ED25519_HEAD, key.as_slice()].concat();
    Some(format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_key_goes_into_a_short_label_value_and_comes_back_unchanged() {
        // A real ed25519 key (ssh-keygen -t ed25519) and its base32 form (Python's
        // base64.b32encode of the 32 key bytes, lower-cased, `=` dropped).
        let public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR root@vm";
        let label = host_key_label(public).unwrap();
        assert_eq!(
            label,
            "hacztw53rmhyyovs5ugd3fpykvfd6gncfykupvpl7esvhqp2mmiq"
        );
        assert_eq!(
            host_key_of_label(&label).as_deref(),
            Some(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR"
            )
        );
        // A cloud that folds case answers the same key.
        assert_eq!(
            host_key_of_label(&label.to_uppercase()),
            host_key_of_label(&label)
        );
        // Not ed25519, not base64, a short key; a label too short, off the
        // alphabet or with bits beyond the key's 256: nothing.
        assert_eq!(
            host_key_label("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x"),
            None
        );
        assert_eq!(host_key_label("ssh-ed25519 not-base64!"), None);
        assert_eq!(
            host_key_label("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgF"),
            None
        );
        assert_eq!(host_key_of_label("abc"), None);
        assert_eq!(host_key_of_label(&"1".repeat(52)), None);
        assert_eq!(host_key_of_label(&format!("{}b", &label[..51])), None);
    }

    #[test]
    fn the_host_key_document_is_cloud_config_that_carries_the_pair_unchanged() {
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n";
        let public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabc aloft";
        let doc = cloud_init_host_key(private, public);
        assert!(doc.starts_with("#cloud-config\n"), "{doc}");
        let parsed: serde_yaml::Value = serde_yaml::from_str(&doc).unwrap();
        assert_eq!(
            parsed["ssh_keys"]["ed25519_private"].as_str(),
            Some(private)
        );
        assert_eq!(parsed["ssh_keys"]["ed25519_public"].as_str(), Some(public));
        assert_eq!(parsed["ssh_deletekeys"].as_bool(), Some(true));
    }

    #[test]
    fn a_node_of_another_type_or_region_refuses_the_launch_by_name() {
        let have = |node, t, r| Have {
            node,
            instance_type: t,
            region: r,
        };
        let same = [
            have("c-head", Some("GPU_1X_A10"), None),
            have("c-worker-1", Some("gpu_1x_a10"), Some("us-east-1")),
            have("c-worker-2", None, None),
        ];
        assert!(refuse_unlike("c", "gpu_1x_a10", "us-east-1", same).is_ok());
        let e = refuse_unlike("c", "gpu_8x_h100", "us-east-1", same).unwrap_err();
        assert_eq!(e.code, "ClusterExists");
        assert!(
            e.message.contains("c-head of type GPU_1X_A10"),
            "{}",
            e.message
        );
        let moved = [have("c-head", Some("gpu_1x_a10"), Some("us-west-2"))];
        let e = refuse_unlike("c", "gpu_1x_a10", "us-east-1", moved).unwrap_err();
        assert!(e.message.contains("in us-west-2"), "{}", e.message);
        assert!(refuse_unlike("c", "x", "r", []).is_ok());
    }

    #[test]
    fn names_round_trip_and_never_cross_clusters() {
        assert_eq!(role_of("t", &name_of("t", Role::Head)), Some(Role::Head));
        assert_eq!(
            role_of("t", &name_of("t", Role::Worker(3))),
            Some(Role::Worker(3))
        );
        assert_eq!(role_of("a", "a-worker-head"), None);
        assert_eq!(role_of("a-worker", "a-worker-1"), None);
        assert_eq!(role_of("a-worker", "a-worker-head"), Some(Role::Head));
        for stranger in [
            "t",
            "t-",
            "t-worker",
            "t-worker-0",
            "t-worker-01",
            "tx-head",
            "my-t-head",
        ] {
            assert_eq!(role_of("t", stranger), None, "{stranger}");
        }
    }

    #[test]
    fn only_what_is_missing_is_launched_head_first() {
        use Role::*;
        assert_eq!(roles_to_launch(&[], 3), [Head, Worker(1), Worker(2)]);
        assert_eq!(roles_to_launch(&[Worker(1)], 2), [Head]);
        assert_eq!(roles_to_launch(&[Head, Worker(1)], 2), []);
        assert_eq!(roles_to_launch(&[Worker(2)], 3), [Head, Worker(1)]);
        assert_eq!(
            roles_to_launch(&[Head, Worker(2)], 4),
            [Worker(1), Worker(3)]
        );
        assert_eq!(roles_to_launch(&[Head, Worker(1), Worker(2)], 1), []);
    }
}
