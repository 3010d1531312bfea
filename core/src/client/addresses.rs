//! Where one cluster is reached: its head's IP and the address of one of its
//! task's open ports (`status --ip`, `status --endpoint PORT`).

use super::{Client, ClientError, ClientResult};

impl Client {
    /// The address (`HOST:PORT`) that port `port` of `cluster` is reached at; a
    /// port its task does not open is an error.
    pub fn port_endpoint(&self, cluster: &str, port: u16) -> ClientResult<String> {
        self.endpoints(cluster)?
            .into_iter()
            .find(|(p, _)| *p == port)
            .map(|(_, address)| address)
            .ok_or_else(|| {
                ClientError::Other(format!(
                    "port {port} is not open on `{cluster}` (its task's `ports`)"
                ))
            })
    }

    /// The IP of `cluster`'s head node, as recorded; a cluster whose head has not
    /// been reached yet is an error.
    pub fn head_ip(&self, cluster: &str) -> ClientResult<String> {
        self.status(&[cluster.to_string()])?
            .into_iter()
            .next()
            .and_then(|v| v.head_ip)
            .ok_or_else(|| {
                ClientError::Other(format!(
                    "cluster `{cluster}` has no reachable head recorded yet; try `aloft status -r`"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_cluster_has_no_address() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        let err = client.head_ip("dev").unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::UnknownCluster { .. } | ClientError::Other(_)
            ),
            "{err}"
        );
        assert!(client.port_endpoint("dev", 8080).is_err());
    }
}
