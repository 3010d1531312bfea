//! What a provider may do beyond the sandbox every provider gets, decided here and
//! nowhere else. Three bundled providers need more than a cloud API: `local` places
//! nodes in folders of this machine, `ssh` answers with key files from the user's
//! own `ssh_node_pools.yaml` and its hosts outlive their clusters, `kubernetes` is
//! lent the allowed kubeconfig contexts and routes SSH through them. A provider
//! gets a privilege only when it is first-party (shipped with the program, or
//! vouched for by the program that loaded it) *and* has that name: an installed
//! component that calls itself `local` gets none.

use super::host::KUBERNETES_PROVIDER;

/// The privileges of one loaded provider (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    /// Its nodes may be folders on this machine (`node_dir` in its answers).
    pub node_folders: bool,
    /// Its answers may name a local key file (`identity_file`), and its hosts
    /// outlive the clusters on them (the cluster's key is taken off them at `down`).
    pub pool_hosts: bool,
    /// It is lent the allowed Kubernetes contexts and may route SSH through one
    /// (`kube-context` in its answers).
    pub kube_bridge: bool,
}

impl Privileges {
    /// No privilege: what every installed provider gets.
    pub const NONE: Privileges = Privileges {
        node_folders: false,
        pool_hosts: false,
        kube_bridge: false,
    };

    /// The privileges of the provider `name`; `first_party`: shipped with the
    /// program or vouched for by it (never an installed component).
    pub fn of(name: &str, first_party: bool) -> Privileges {
        if !first_party {
            return Privileges::NONE;
        }
        Privileges {
            node_folders: name == "local",
            pool_hosts: name == "ssh",
            kube_bridge: name == KUBERNETES_PROVIDER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_first_party_providers_of_the_three_names_get_a_privilege_each() {
        for name in ["local", "ssh", "kubernetes", "aws", "faulty"] {
            assert_eq!(Privileges::of(name, false), Privileges::NONE, "{name}");
        }
        assert_eq!(
            Privileges::of("local", true),
            Privileges {
                node_folders: true,
                ..Privileges::NONE
            }
        );
        assert_eq!(
            Privileges::of("ssh", true),
            Privileges {
                pool_hosts: true,
                ..Privileges::NONE
            }
        );
        assert_eq!(
            Privileges::of("kubernetes", true),
            Privileges {
                kube_bridge: true,
                ..Privileges::NONE
            }
        );
        assert_eq!(Privileges::of("aws", true), Privileges::NONE);
    }
}
