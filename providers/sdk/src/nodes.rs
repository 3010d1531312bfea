//! The nodes of a cluster by role, for clouds that know a cluster's instances by
//! name (or by a tag plus a name): `<cluster>-head` and `<cluster>-worker-<n>`.
//! `run-instances` stays idempotent by creating only [`roles_to_launch`], and
//! [`role_of`] never lets cluster `a` claim a node of cluster `a-worker` (nor back).
//! Used by the bundled `lambda`, `runpod` and `digitalocean` providers.

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

#[cfg(test)]
mod tests {
    use super::*;

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
