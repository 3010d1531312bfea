//! RunPod network volumes on the host side, through RunPod's REST API
//! (`POST/DELETE https://rest.runpod.io/v1/networkvolumes`), with the key the
//! host lends the `runpod` component (`RUNPOD_API_KEY`, or RunPod's config file)
//! sent as `Authorization: Bearer` and never shown. The `runpod` component
//! attaches the volume to its pods (`networkVolumeId`) at deploy.

use serde::Deserialize;

use super::VolumeError;

/// RunPod's REST API; `providers.runpod.endpoint` in aloft's config replaces it
/// (the paths stay).
pub const REST_BASE: &str = "https://rest.runpod.io";

fn failure(message: impl std::fmt::Display) -> VolumeError {
    VolumeError::Provider {
        provider: "runpod".into(),
        message: message.to_string(),
    }
}

fn client() -> Result<reqwest::Client, VolumeError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(failure)
}

/// The message of an error answer (never the request, which holds the key).
async fn refusal(what: &str, resp: reqwest::Response) -> VolumeError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let message: String = text.chars().take(300).collect();
    failure(format!("{what}: HTTP {status}: {message}"))
}

/// Creates a network volume of `size_gib` in `data_center`; its id.
pub async fn create(
    base: &str,
    key: &str,
    name: &str,
    size_gib: u64,
    data_center: &str,
) -> Result<String, VolumeError> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    let url = format!("{}/v1/networkvolumes", base.trim_end_matches('/'));
    let resp = client()?
        .post(&url)
        .bearer_auth(key)
        .json(&serde_json::json!({"name": name, "size": size_gib, "dataCenterId": data_center}))
        .send()
        .await
        .map_err(|e| failure(e.without_url()))?;
    if !resp.status().is_success() {
        return Err(refusal("creating the network volume", resp).await);
    }
    let created: Created = resp
        .json()
        .await
        .map_err(|e| failure(format!("creating the network volume: {}", e.without_url())))?;
    Ok(created.id)
}

/// Deletes network volume `id` (one already gone is fine).
pub async fn delete(base: &str, key: &str, id: &str) -> Result<(), VolumeError> {
    let url = format!("{}/v1/networkvolumes/{id}", base.trim_end_matches('/'));
    let resp = client()?
        .delete(&url)
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| failure(e.without_url()))?;
    if resp.status().is_success() || resp.status().as_u16() == 404 {
        return Ok(());
    }
    Err(refusal("deleting the network volume", resp).await)
}
