//! PersistentVolumeClaims on the host side: created, read and deleted through the
//! same per-context clients the `kubernetes` component's requests go through
//! ([`crate::kube::access::KubeAccess`]), so no credential leaves the host.

use serde_json::{Value, json};

use super::{Volume, VolumeError};
use crate::kube::access::KubeAccess;

/// Where a claim lives: the context and namespace, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRef {
    /// The kubeconfig context.
    pub context: String,
    /// The namespace.
    pub namespace: String,
    /// The claim's name.
    pub name: String,
}

fn failure(message: impl std::fmt::Display) -> VolumeError {
    VolumeError::Provider {
        provider: "kubernetes".into(),
        message: message.to_string(),
    }
}

/// The claim object a volume file asks for.
pub fn claim_body(volume: &Volume, namespace: &str) -> Value {
    let mut spec = json!({
        "accessModes": [volume.spec.config.access_mode.as_deref().unwrap_or("ReadWriteOnce")],
        "resources": {"requests": {"storage": format!("{}Gi", volume.size_gib.unwrap_or(1))}},
    });
    if let Some(class) = &volume.spec.config.storage_class_name {
        spec["storageClassName"] = json!(class);
    }
    let mut labels = serde_json::Map::new();
    for (k, v) in &volume.spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("aloft-volume".into(), json!(volume.spec.name));
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": volume.spec.name, "namespace": namespace, "labels": labels},
        "spec": spec,
    })
}

/// Sends one request to the context's API server; the answer's status and JSON body.
async fn send(
    access: &KubeAccess,
    context: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), VolumeError> {
    let info = access.context(context).ok_or_else(|| {
        let known: Vec<&str> = access.contexts().map(|c| c.name.as_str()).collect();
        VolumeError::Invalid(format!(
            "Kubernetes context `{context}` is not allowed (allowed: {}); name it in `kubernetes.allowed_contexts` of aloft's config.yaml",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
    })?;
    let (client, token) = access.connection(context).await.map_err(failure)?;
    let url = format!("{}{path}", info.server.trim_end_matches('/'));
    let mut req = client.request(method, &url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    // reqwest's error may carry the URL, never the token.
    let resp = req.send().await.map_err(failure)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(failure)?;
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((status, value))
}

fn api_error(what: &str, status: u16, body: &Value) -> VolumeError {
    let message = body["message"].as_str().unwrap_or("no message");
    failure(format!("{what}: HTTP {status}: {message}"))
}

fn claims_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/persistentvolumeclaims")
}

/// Creates the claim (or, with `use_existing`, checks that it exists).
pub async fn apply(access: &KubeAccess, volume: &Volume, at: &ClaimRef) -> Result<(), VolumeError> {
    let path = format!("{}/{}", claims_path(&at.namespace), at.name);
    if volume.spec.use_existing.unwrap_or(false) {
        let (status, body) = send(access, &at.context, reqwest::Method::GET, &path, None).await?;
        return match status {
            200 => Ok(()),
            404 => Err(VolumeError::Invalid(format!(
                "use_existing: no PersistentVolumeClaim `{}` in namespace {} of context {}",
                at.name, at.namespace, at.context
            ))),
            _ => Err(api_error("reading the claim", status, &body)),
        };
    }
    let body = claim_body(volume, &at.namespace);
    let (status, answer) = send(
        access,
        &at.context,
        reqwest::Method::POST,
        &claims_path(&at.namespace),
        Some(&body),
    )
    .await?;
    match status {
        200..=299 => Ok(()),
        409 => Err(VolumeError::Invalid(format!(
            "a PersistentVolumeClaim `{}` already exists in namespace {} of context {}; set `use_existing: true` to adopt it",
            at.name, at.namespace, at.context
        ))),
        _ => Err(api_error("creating the claim", status, &answer)),
    }
}

/// Deletes the claim (one already gone is fine).
pub async fn delete(access: &KubeAccess, at: &ClaimRef) -> Result<(), VolumeError> {
    let path = format!("{}/{}", claims_path(&at.namespace), at.name);
    let (status, body) = send(access, &at.context, reqwest::Method::DELETE, &path, None).await?;
    match status {
        200..=299 | 404 => Ok(()),
        _ => Err(api_error("deleting the claim", status, &body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_has_the_files_class_mode_size_and_labels() {
        let v = Volume::from_yaml_str(
            "name: data\ntype: k8s-pvc\nsize: 2.5Gi\nlabels: {team: ml}\n\
             config: {storage_class_name: fast, access_mode: ReadWriteMany}\n",
        )
        .unwrap();
        let body = claim_body(&v, "ns");
        assert_eq!(body["metadata"]["namespace"], "ns");
        assert_eq!(body["metadata"]["labels"]["team"], "ml");
        assert_eq!(body["metadata"]["labels"]["aloft-volume"], "data");
        assert_eq!(body["spec"]["storageClassName"], "fast");
        assert_eq!(body["spec"]["accessModes"], json!(["ReadWriteMany"]));
        assert_eq!(body["spec"]["resources"]["requests"]["storage"], "3Gi");
    }
}
