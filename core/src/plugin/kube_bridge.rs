//! The `kube` import of `aloft:provider@0.2.0` (`wit/since_v0.2.0/kube.wit`):
//! requests to an allowed kubeconfig context's API server, sent through that
//! context's client with its bearer token added here (see
//! [`crate::kube::access`]). Only a component granted Kubernetes access (its
//! sandbox holds a `KubeAccess`: the first-party `kubernetes` provider, see
//! [`super::privileges`]) is answered; every other gets `denied`.

use reqwest::Url;

use super::outgoing::{BodyError, capped_body, pairs};
use super::sandbox::HostState;
use super::trust::header_rule;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "kube-imports",
    imports: { default: async },
});

use self::aloft::provider::kube;

/// The context's server URL with `path` under it; none when `path` is not a
/// plain absolute path (a scheme, a host or `..` could leave the server).
fn under(server: &Url, path: &str) -> Option<Url> {
    if !path.starts_with('/') || path.starts_with("//") || path.contains("/../") {
        return None;
    }
    let url = Url::parse(&format!("{}{path}", server.as_str().trim_end_matches('/'))).ok()?;
    super::trust::kube_url_allowed(server, &url).then_some(url)
}

impl kube::Host for HostState {
    async fn send(&mut self, req: kube::Request) -> Result<kube::Response, kube::KubeError> {
        let Some(access) = self.grants.kube.clone() else {
            tracing::warn!(
                provider = self.grants.provider.as_str(),
                "refused a Kubernetes bridge call: the provider has no Kubernetes access"
            );
            return Err(kube::KubeError::Denied(
                "this provider is not granted Kubernetes access".into(),
            ));
        };
        let context = req.context.as_str();
        let Some(info) = access.context(context) else {
            return Err(kube::KubeError::Denied(format!(
                "kubernetes context {context:?} is not allowed"
            )));
        };
        let server =
            Url::parse(&info.server).map_err(|e| kube::KubeError::Invalid(e.to_string()))?;
        let Some(url) = under(&server, &req.path) else {
            tracing::warn!(
                provider = self.grants.provider.as_str(),
                "refused a request outside the API server of context {context}"
            );
            return Err(kube::KubeError::Denied(format!(
                "{:?} is not a path under the API server of context {context:?}",
                req.path
            )));
        };
        let (client, token) = access
            .connection(context)
            .await
            .map_err(|e| kube::KubeError::Connect(e.to_string()))?;
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|e| kube::KubeError::Invalid(e.to_string()))?;
        let mut builder = client.request(method, url);
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("authorization") {
                continue;
            }
            match header_rule(name) {
                Some(true) => {
                    return Err(kube::KubeError::Invalid(format!(
                        "header `{name}` may not be set by a provider"
                    )));
                }
                Some(false) => continue,
                None => builder = builder.header(name, value),
            }
        }
        if let Some(token) = &token {
            builder = builder.bearer_auth(token);
        }
        let response = builder.body(req.body).send().await.map_err(|e| {
            if e.is_timeout() {
                kube::KubeError::Timeout
            } else {
                let mut text = format!("{e}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                let secrets: Vec<String> = token.iter().cloned().collect();
                kube::KubeError::Connect(super::sandbox::scrub(&text, &secrets))
            }
        })?;
        let status = response.status().as_u16();
        let headers = pairs(response.headers());
        let body = capped_body(response, self.grants.max_response_bytes)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => kube::KubeError::TooLarge,
                BodyError::Failed(why) => kube::KubeError::Connect(why),
            })?;
        Ok(kube::Response {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_under_the_server_are_sent() {
        let server = Url::parse("https://10.0.0.1:6443/k8s/clusters/c-1").unwrap();
        let ok = under(&server, "/api/v1/namespaces/default/pods?limit=500").unwrap();
        assert_eq!(
            ok.as_str(),
            "https://10.0.0.1:6443/k8s/clusters/c-1/api/v1/namespaces/default/pods?limit=500"
        );
        for bad in [
            "api/v1/pods",
            "//evil.example/api",
            "/a/../../../etc",
            "https://evil.example/api",
        ] {
            assert!(under(&server, bad).is_none(), "{bad}");
        }
    }
}
