//! Autostop on Kubernetes with the narrowest credential the API can state: a
//! per-cluster service account allowed to delete only the cluster's own pods and
//! ports Service, and a short-lived token for it. This is what a Kubernetes head's
//! stop kit carries instead of the user's kubeconfig credentials.
//!
//! When autodown is set on a Kubernetes cluster, the launcher, through the user's
//! own context ([`KubeAccess`]), creates in the cluster's namespace:
//! - a ServiceAccount `<cluster>-autostop` (no token mounted anywhere:
//!   `automountServiceAccountToken: false`);
//! - a Role of the same name with exactly these rules ([`role_rules`]): `delete` on
//!   `pods` named by `resourceNames` (the cluster's pods, head included), and
//!   `delete` on `services` named `<cluster>-ports` (the Service a task's ports
//!   make, which `down` deletes too). No `get`, `list`, `watch`, `create`,
//!   `update` or `patch`, nothing on any other resource, nothing in any other
//!   namespace; the component, when it runs from a kit, deletes those objects by
//!   name and reads nothing;
//! - a RoleBinding of the same name binding the Role to the ServiceAccount;
//! - a token for the account from the TokenRequest API
//!   (`POST .../serviceaccounts/NAME/token`, `authentication.k8s.io/v1`), bound to
//!   the head pod (`boundObjectRef`: it stops working when that pod is gone) and
//!   expiring after the idle window plus [`TOKEN_SLACK`].
//!
//! The three objects name the head pod as their owner (`ownerReferences`), so
//! Kubernetes' garbage collector deletes them once an autodown deleted the pods,
//! with no launcher involved; `down` (and an autostop cancelled or set again, which
//! also revokes the old token) deletes them itself ([`revoke`]).
//!
//! The kit carries [`NarrowContext`]: the context's name, server, namespace and CA,
//! and that token, never the user's credentials.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::access::KubeAccess;
use super::{KubeError, ResolvedContext};

/// The API group of Roles and RoleBindings.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// How long the token outlives the autostop's idle window: a cluster busy longer
/// than this after autostop was set finds its token expired when it goes idle
/// (autostop FAILING at `status -r`, until `aloft autostop` sends a fresh one).
pub const TOKEN_SLACK: Duration = Duration::from_secs(24 * 3600);

/// The shortest lifetime the TokenRequest API accepts.
const MIN_TOKEN: Duration = Duration::from_secs(600);

/// The annotation naming the aloft cluster on the objects made here.
const CLUSTER_ANNOTATION: &str = "aloft.dev/cluster";

/// What a cluster's head may do with its token, as the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopGrant {
    /// The kubeconfig context.
    pub context: String,
    /// The namespace of the pods, the account and its Role.
    pub namespace: String,
    /// The service account (also the Role's and the RoleBinding's name).
    pub service_account: String,
    /// The pods it may delete, head first.
    pub pods: Vec<String>,
    /// The Services it may delete.
    pub services: Vec<String>,
    /// When the token expires, as the API server answered.
    pub expires: Option<String>,
}

impl StopGrant {
    /// One sentence for the user: what the head gets.
    pub fn describe(&self) -> String {
        let until = self
            .expires
            .as_deref()
            .map(|t| format!(", valid until {t} or until the head pod is gone"))
            .unwrap_or_default();
        format!(
            "a token of service account {}/{}{until}, allowed to delete pods {} and service {} \
             of namespace {}, nothing else",
            self.namespace,
            self.service_account,
            self.pods.join(", "),
            self.services.join(", "),
            self.namespace
        )
    }
}

/// The one context a head's stop kit reaches its API server with: server,
/// namespace, the context's CA and the narrow token. `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct NarrowContext {
    /// The context's name (the cluster's region).
    pub name: String,
    /// The API server's URL.
    pub server: String,
    /// The namespace.
    pub namespace: String,
    /// PEM of the context's CA, when it names one.
    pub ca_pem: Option<String>,
    /// The context's `insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// The service account's token.
    pub token: String,
}

impl std::fmt::Debug for NarrowContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NarrowContext")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl NarrowContext {
    /// As a resolved context, for [`KubeAccess::from_resolved`].
    pub fn resolved(&self) -> ResolvedContext {
        ResolvedContext {
            name: self.name.clone(),
            server: self.server.clone(),
            namespace: self.namespace.clone(),
            ca_pem: self.ca_pem.as_ref().map(|p| p.as_bytes().to_vec()),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            client_cert_pem: None,
            client_key_pem: None,
            token: Some(self.token.clone()),
        }
    }
}

/// The service account (and Role, RoleBinding) of the cluster whose head pod is
/// `head_pod` (`<base>-head`, as the `kubernetes` provider names it).
pub fn service_account_name(head_pod: &str) -> String {
    let base = head_pod.strip_suffix("-head").unwrap_or(head_pod);
    format!("{base}-autostop")
}

/// The ports Service of the cluster whose head pod is `head_pod`
/// (`<base>-ports`, as the `kubernetes` provider names it).
pub fn ports_service_name(head_pod: &str) -> String {
    let base = head_pod.strip_suffix("-head").unwrap_or(head_pod);
    format!("{base}-ports")
}

/// The Role's rules: `delete` on exactly `pods` and `services`, by name.
pub fn role_rules(pods: &[String], services: &[String]) -> Value {
    let mut rules = vec![json!({
        "apiGroups": [""],
        "resources": ["pods"],
        "resourceNames": pods,
        "verbs": ["delete"],
    })];
    if !services.is_empty() {
        rules.push(json!({
            "apiGroups": [""],
            "resources": ["services"],
            "resourceNames": services,
            "verbs": ["delete"],
        }));
    }
    Value::Array(rules)
}

/// The head pod, owner of the objects made here.
struct Owner {
    name: String,
    uid: String,
}

fn metadata(name: &str, namespace: &str, cluster: &str, owner: &Owner) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "aloft"},
        "annotations": {CLUSTER_ANNOTATION: cluster},
        "ownerReferences": [{
            "apiVersion": "v1",
            "kind": "Pod",
            "name": owner.name,
            "uid": owner.uid,
        }],
    })
}

fn objects(grant: &StopGrant, cluster: &str, owner: &Owner) -> [(String, Value); 3] {
    let (ns, name) = (&grant.namespace, &grant.service_account);
    let meta = metadata(name, ns, cluster, owner);
    [
        (
            format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": meta,
                "automountServiceAccountToken": false,
            }),
        ),
        (
            format!("/apis/{RBAC_GROUP}/v1/namespaces/{ns}/roles"),
            json!({
                "apiVersion": format!("{RBAC_GROUP}/v1"),
                "kind": "Role",
                "metadata": meta,
                "rules": role_rules(&grant.pods, &grant.services),
            }),
        ),
        (
            format!("/apis/{RBAC_GROUP}/v1/namespaces/{ns}/rolebindings"),
            json!({
                "apiVersion": format!("{RBAC_GROUP}/v1"),
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
            }),
        ),
    ]
}

/// The TokenRequest body: `seconds` of validity (at least the API's 10 minutes),
/// bound to the head pod.
fn token_request(seconds: u64, owner: &Owner) -> Value {
    json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [],
            "expirationSeconds": seconds.max(MIN_TOKEN.as_secs()),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": owner.name, "uid": owner.uid},
        },
    })
}

/// One request with the user's context.
struct Api {
    client: reqwest::Client,
    token: Option<String>,
    server: String,
}

impl Api {
    async fn open(access: &KubeAccess, context: &str) -> Result<Api, KubeError> {
        let (client, token) = access.connection(context).await?;
        let server = access
            .context(context)
            .map(|c| c.server.trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(Api {
            client,
            token,
            server,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KubeError> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.server))
            .header("accept", "application/json");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        // reqwest's error may name the URL, never the token.
        let fail = |e: reqwest::Error| KubeError::Connect {
            server: self.server.clone(),
            message: e.to_string(),
        };
        let resp = req.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(fail)?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    fn refused(&self, what: &str, status: u16, body: &Value) -> KubeError {
        KubeError::Refused {
            server: self.server.clone(),
            what: what.to_string(),
            status,
            message: body["message"].as_str().unwrap_or("no message").to_string(),
        }
    }
}

/// Makes (again) the service account, Role and RoleBinding of the cluster
/// `cluster` whose pods are `pods` (head first) in context `context`, and a
/// token for it valid for `lifetime`; an earlier grant of the cluster is revoked
/// first (its token stops working). Returns what was granted and the context the
/// head's kit reaches the API server with. Nothing is left behind on failure.
pub async fn grant(
    access: &KubeAccess,
    context: &str,
    cluster: &str,
    pods: &[String],
    services: &[String],
    lifetime: Duration,
) -> Result<(StopGrant, NarrowContext), KubeError> {
    let resolved = access.resolved(context).await?;
    let api = Api::open(access, context).await?;
    let head = pods.first().ok_or_else(|| KubeError::Refused {
        server: api.server.clone(),
        what: format!("cluster {cluster}"),
        status: 0,
        message: "no pod is recorded".into(),
    })?;
    let ns = resolved.namespace.clone();
    let (status, pod) = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{ns}/pods/{head}"),
            None,
        )
        .await?;
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    if status != 200 || uid.is_empty() {
        return Err(api.refused(&format!("reading pod {head}"), status, &pod));
    }
    let owner = Owner {
        name: head.clone(),
        uid: uid.to_string(),
    };
    let mut grant = StopGrant {
        context: context.to_string(),
        namespace: ns.clone(),
        service_account: service_account_name(head),
        pods: pods.to_vec(),
        services: services.to_vec(),
        expires: None,
    };
    revoke_with(&api, &ns, &grant.service_account).await?;
    let made = async {
        for (path, body) in objects(&grant, cluster, &owner) {
            let (status, answer) = api.send(reqwest::Method::POST, &path, Some(&body)).await?;
            if !(200..300).contains(&status) {
                let kind = body["kind"].as_str().unwrap_or("object");
                return Err(api.refused(&format!("creating {kind}"), status, &answer));
            }
        }
        let path = format!(
            "/api/v1/namespaces/{ns}/serviceaccounts/{}/token",
            grant.service_account
        );
        let body = token_request(lifetime.as_secs(), &owner);
        let (status, answer) = api.send(reqwest::Method::POST, &path, Some(&body)).await?;
        let token = answer["status"]["token"].as_str().unwrap_or_default();
        if !(200..300).contains(&status) || token.is_empty() {
            return Err(api.refused("requesting a token", status, &answer));
        }
        Ok((
            token.to_string(),
            answer["status"]["expirationTimestamp"]
                .as_str()
                .map(str::to_string),
        ))
    }
    .await;
    let (token, expires) = match made {
        Ok(made) => made,
        Err(err) => {
            let _ = revoke_with(&api, &ns, &grant.service_account).await;
            return Err(err);
        }
    };
    grant.expires = expires;
    let narrow = NarrowContext {
        name: context.to_string(),
        server: resolved.server.clone(),
        namespace: ns,
        ca_pem: resolved
            .ca_pem
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        insecure_skip_tls_verify: resolved.insecure_skip_tls_verify,
        token,
    };
    Ok((grant, narrow))
}

/// Deletes the service account, Role and RoleBinding of the cluster whose head
/// pod is `head_pod` in context `context` (what is gone already is fine): its
/// token stops working.
pub async fn revoke(access: &KubeAccess, context: &str, head_pod: &str) -> Result<(), KubeError> {
    let api = Api::open(access, context).await?;
    let ns = access
        .context(context)
        .map(|c| c.namespace.clone())
        .unwrap_or_default();
    revoke_with(&api, &ns, &service_account_name(head_pod)).await
}

async fn revoke_with(api: &Api, ns: &str, name: &str) -> Result<(), KubeError> {
    // The binding first: the account loses its rights before anything else.
    for path in [
        format!("/apis/{RBAC_GROUP}/v1/namespaces/{ns}/rolebindings/{name}"),
        format!("/apis/{RBAC_GROUP}/v1/namespaces/{ns}/roles/{name}"),
        format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}"),
    ] {
        let (status, answer) = api.send(reqwest::Method::DELETE, &path, None).await?;
        if !(200..300).contains(&status) && status != 404 {
            return Err(api.refused(&format!("deleting {path}"), status, &answer));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_deletes_the_clusters_pods_and_ports_service_by_name_only() {
        let pods = vec!["ak-head".to_string(), "ak-worker-1".to_string()];
        let rules = role_rules(&pods, &["ak-ports".to_string()]);
        assert_eq!(
            rules,
            json!([
                {"apiGroups": [""], "resources": ["pods"],
                 "resourceNames": ["ak-head", "ak-worker-1"], "verbs": ["delete"]},
                {"apiGroups": [""], "resources": ["services"],
                 "resourceNames": ["ak-ports"], "verbs": ["delete"]},
            ])
        );
        assert_eq!(service_account_name("ak-head"), "ak-autostop");
        let owner = Owner {
            name: "ak-head".into(),
            uid: "u-1".into(),
        };
        let grant = StopGrant {
            context: "c".into(),
            namespace: "ns".into(),
            service_account: "ak-autostop".into(),
            pods,
            services: vec!["ak-ports".into()],
            expires: Some("2026-12-08T00:00:00Z".into()),
        };
        let [(_, sa), (_, role), (path, binding)] = objects(&grant, "ak", &owner);
        assert_eq!(sa["automountServiceAccountToken"], false);
        assert_eq!(role["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(
            path,
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings"
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "ak-autostop", "namespace": "ns"}])
        );
        // At least the API's 10 minutes, bound to the head pod.
        let req = token_request(5, &owner);
        assert_eq!(req["spec"]["expirationSeconds"], 600);
        assert_eq!(req["spec"]["boundObjectRef"]["name"], "ak-head");
        let text = grant.describe();
        assert!(
            text.contains("service account ns/ak-autostop")
                && text.contains("pods ak-head, ak-worker-1")
                && text.contains("of namespace ns"),
            "{text}"
        );
    }

    #[test]
    fn the_narrow_context_never_shows_its_token() {
        let narrow = NarrowContext {
            name: "c".into(),
            server: "https://10.0.0.1:6443".into(),
            namespace: "ns".into(),
            ca_pem: None,
            insecure_skip_tls_verify: false,
            token: "sa-s3cret".into(),
        };
        assert!(!format!("{narrow:?}").contains("s3cret"));
        let r = narrow.resolved();
        assert_eq!(r.token.as_deref(), Some("sa-s3cret"));
        assert!(r.client_key_pem.is_none() && r.client_cert_pem.is_none());
    }
}
