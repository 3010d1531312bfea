//! Bindings for `aloft:provider@0.1.0` (`wit/since_v0.1.0`): the host side of its
//! imports, and conversions between its generated types and [`super::types`].
//! A later WIT version gets a sibling module; this one stays as its adapter.

use super::outgoing::{BodyError, Failure, capped_body, pairs};
use super::sandbox::HostState;
use super::types as t;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "provider",
    imports: { default: async },
    exports: { default: async },
});

/// The provider error type of this version, as generated.
pub type GuestError = types::ProviderError;
use self::aloft::provider::{credentials, http, kv, log, types};

/// The version string of this interface.
pub const VERSION: &str = "0.1.0";

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        let message = super::trust::display_safe(&self.scrub(&message));
        let provider = self.grants.provider.as_str();
        match level {
            log::Level::Trace => tracing::trace!(provider, "{message}"),
            log::Level::Debug => tracing::debug!(provider, "{message}"),
            log::Level::Info => tracing::info!(provider, "{message}"),
            log::Level::Warn => tracing::warn!(provider, "{message}"),
            log::Level::Error => tracing::error!(provider, "{message}"),
        }
    }
}

impl credentials::Host for HostState {
    async fn get(&mut self, name: String) -> Option<String> {
        if !self.grants.credentials.iter().any(|c| c == &name) {
            tracing::debug!(
                provider = self.grants.provider.as_str(),
                "refused undeclared credential {name}"
            );
            return None;
        }
        let value = self.grants.source.get(&name)?;
        if !self.secrets.contains(&value) {
            self.secrets.push(value.clone());
        }
        Some(value)
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.kv.get(&self.grants.provider, &key)
    }

    async fn set(&mut self, key: String, value: String) {
        self.kv.set(&self.grants.provider, &key, &value)
    }

    async fn delete(&mut self, key: String) {
        self.kv.delete(&self.grants.provider, &key)
    }

    async fn keys(&mut self, prefix: String) -> Vec<String> {
        self.kv.list(&self.grants.provider, &prefix)
    }
}

impl http::Host for HostState {
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let client = self.http.clone();
        let (builder, host) = self
            .outgoing(&client, &req.method, &req.url, &req.headers, req.body)
            .map_err(http_error)?;
        let response = builder
            .send()
            .await
            .map_err(|e| http_error(self.send_failure(&e, &host)))?;
        let status = response.status().as_u16();
        let headers = pairs(response.headers());
        let body = capped_body(response, self.grants.max_response_bytes)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => http::HttpError::TooLarge,
                BodyError::Failed(why) => http::HttpError::Connect(why),
            })?;
        Ok(http::Response {
            status,
            headers,
            body,
        })
    }
}

/// A failure in this version's terms.
fn http_error(f: Failure) -> http::HttpError {
    match f {
        Failure::Denied(m) => http::HttpError::Denied(m),
        Failure::Invalid(m) => http::HttpError::Invalid(m),
        Failure::Timeout => http::HttpError::Timeout,
        Failure::Connect(m) => http::HttpError::Connect(m),
    }
}

// ---- conversions -------------------------------------------------------------
// Every string a component returns is made display-safe here (offers excepted:
// `client::offers` refuses an offer with a bad name instead).

fn safe(text: String) -> String {
    super::trust::display_safe(&text)
}

fn safe_opt(text: Option<String>) -> Option<String> {
    text.map(safe)
}

fn safe_list(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(safe).collect()
}

fn safe_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.into_iter().map(|(k, v)| (safe(k), safe(v))).collect()
}

impl From<types::ErrorKind> for t::ErrorKind {
    fn from(k: types::ErrorKind) -> Self {
        match k {
            types::ErrorKind::Capacity => t::ErrorKind::Capacity,
            types::ErrorKind::Quota => t::ErrorKind::Quota,
            types::ErrorKind::Auth => t::ErrorKind::Auth,
            types::ErrorKind::Unsupported => t::ErrorKind::Unsupported,
            types::ErrorKind::Transient => t::ErrorKind::Transient,
            types::ErrorKind::Invalid => t::ErrorKind::Invalid,
            types::ErrorKind::Other => t::ErrorKind::Other,
        }
    }
}

impl From<types::ProviderError> for t::ProviderError {
    fn from(e: types::ProviderError) -> Self {
        t::ProviderError {
            kind: e.kind.into(),
            code: safe(e.code),
            message: safe(e.message),
            region: safe_opt(e.region),
            zone: safe_opt(e.zone),
        }
    }
}

impl From<types::ProviderInfo> for t::Manifest {
    fn from(i: types::ProviderInfo) -> Self {
        let c = i.capabilities;
        t::Manifest {
            name: safe(i.name),
            version: safe(i.version),
            api_version: VERSION.to_string(),
            description: safe(i.description),
            capabilities: t::Capabilities {
                spot: c.contains(types::Capabilities::SPOT),
                stop_start: c.contains(types::Capabilities::STOP_START),
                multi_node: c.contains(types::Capabilities::MULTI_NODE),
                open_ports: c.contains(types::Capabilities::OPEN_PORTS),
                custom_images: c.contains(types::Capabilities::CUSTOM_IMAGES),
                volumes: c.contains(types::Capabilities::VOLUMES),
                // Not a 0.1.0 flag: a component that does not declare otherwise
                // through 0.2.0's `manifest` export can (see `Capabilities`).
                container_images: true,
                catalog_prices: true,
            },
            credentials: safe_list(i.credentials),
            hosts: safe_list(i.hosts),
        }
    }
}

impl From<types::Region> for t::Region {
    fn from(r: types::Region) -> Self {
        t::Region {
            name: safe(r.name),
            zones: safe_list(r.zones),
        }
    }
}

impl From<types::Identity> for t::Identity {
    fn from(i: types::Identity) -> Self {
        t::Identity {
            account: safe(i.account),
            details: safe_pairs(i.details),
        }
    }
}

impl From<&t::PortRange> for types::PortRange {
    fn from(p: &t::PortRange) -> Self {
        types::PortRange {
            start: p.start,
            end: p.end,
        }
    }
}

impl From<&t::ClusterRef> for types::ClusterRef {
    fn from(c: &t::ClusterRef) -> Self {
        types::ClusterRef {
            cluster: c.cluster.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
        }
    }
}

impl From<types::ClusterRef> for t::ClusterRef {
    fn from(c: types::ClusterRef) -> Self {
        t::ClusterRef {
            cluster: safe(c.cluster),
            region: safe(c.region),
            zone: safe_opt(c.zone),
        }
    }
}

impl From<&t::RunRequest> for types::RunRequest {
    fn from(r: &t::RunRequest) -> Self {
        types::RunRequest {
            cluster: (&r.cluster).into(),
            instance_type: r.instance_type.clone(),
            count: r.count,
            use_spot: r.use_spot,
            disk_size_gib: r.disk_size_gib,
            image_id: r.image_id.clone(),
            ports: r.ports.iter().map(Into::into).collect(),
            labels: r.labels.clone(),
            ssh_public_key: r.ssh_public_key.clone(),
        }
    }
}

impl From<types::InstanceStatus> for t::InstanceStatus {
    fn from(s: types::InstanceStatus) -> Self {
        match s {
            types::InstanceStatus::Pending => t::InstanceStatus::Pending,
            types::InstanceStatus::Running => t::InstanceStatus::Running,
            types::InstanceStatus::Stopping => t::InstanceStatus::Stopping,
            types::InstanceStatus::Stopped => t::InstanceStatus::Stopped,
            types::InstanceStatus::Terminating => t::InstanceStatus::Terminating,
            types::InstanceStatus::Terminated => t::InstanceStatus::Terminated,
            types::InstanceStatus::Preempted => t::InstanceStatus::Preempted,
            types::InstanceStatus::Unknown => t::InstanceStatus::Unknown,
        }
    }
}

impl From<types::Instance> for t::Instance {
    fn from(i: types::Instance) -> Self {
        t::Instance {
            id: safe(i.id),
            is_head: i.is_head,
            status: i.status.into(),
            instance_type: safe(i.instance_type),
            zone: safe_opt(i.zone),
            spot: i.spot,
            public_ip: safe_opt(i.public_ip),
            private_ip: safe_opt(i.private_ip),
            ssh_port: i.ssh_port,
            ssh_user: safe_opt(i.ssh_user),
            extra: safe_pairs(i.extra),
        }
    }
}

impl From<types::RunResult> for t::RunResult {
    fn from(r: types::RunResult) -> Self {
        t::RunResult {
            instances: r.instances.into_iter().map(Into::into).collect(),
            created: safe_list(r.created),
            resumed: safe_list(r.resumed),
        }
    }
}

impl From<types::ClusterInstances> for t::ClusterInstances {
    fn from(c: types::ClusterInstances) -> Self {
        t::ClusterInstances {
            cluster: c.cluster.into(),
            instances: c.instances.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<types::Offer> for t::ProviderOffer {
    fn from(o: types::Offer) -> Self {
        t::ProviderOffer {
            instance_type: o.instance_type,
            accelerator_name: o.accelerator_name,
            accelerator_count: o.accelerator_count,
            vcpus: o.vcpus,
            memory_gib: o.memory_gib,
            gpu_memory_mib: o.gpu_memory_mib,
            price: o.price,
            spot_price: o.spot_price,
            region: o.region,
            zone: o.zone,
        }
    }
}
