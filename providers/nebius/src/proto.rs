//! The protobuf messages of Nebius's API that this provider sends and reads,
//! declared by hand with prost. Field numbers and types are those of the file
//! descriptors the official `nebius` Python package (0.6.29) carries
//! (`nebius/compute/v1/instance*.proto`, `nebius/common/v1/metadata.proto` and
//! `operation.proto`, `nebius/iam/v1/token_exchange_service.proto`); fields this
//! provider neither sends nor reads are left out (protobuf skips unknown fields).

use std::collections::HashMap;

/// `nebius.common.v1.ResourceMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetadata {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub parent_id: String,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(int64, tag = "4")]
    pub resource_version: i64,
    #[prost(map = "string, string", tag = "7")]
    pub labels: HashMap<String, String>,
}

/// `nebius.common.v1.GetByNameRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetByNameRequest {
    #[prost(string, tag = "1")]
    pub parent_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// `nebius.compute.v1.GetInstanceRequest`, `DeleteInstanceRequest`,
/// `StartInstanceRequest`, `StopInstanceRequest` (each only `id = 1`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdRequest {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `nebius.compute.v1.ListInstancesRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListInstancesRequest {
    #[prost(string, tag = "1")]
    pub parent_id: String,
    #[prost(int64, tag = "2")]
    pub page_size: i64,
    #[prost(string, tag = "3")]
    pub page_token: String,
}

/// `nebius.compute.v1.ListInstancesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListInstancesResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<Instance>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}

/// `nebius.compute.v1.CreateInstanceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateInstanceRequest {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<InstanceSpec>,
}

/// `nebius.compute.v1.Instance`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Instance {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<InstanceSpec>,
    #[prost(message, optional, tag = "3")]
    pub status: Option<InstanceStatus>,
}

/// `nebius.compute.v1.InstanceSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstanceSpec {
    #[prost(message, optional, tag = "2")]
    pub resources: Option<ResourcesSpec>,
    #[prost(message, repeated, tag = "4")]
    pub network_interfaces: Vec<NetworkInterfaceSpec>,
    #[prost(message, optional, tag = "5")]
    pub boot_disk: Option<AttachedDiskSpec>,
    #[prost(string, tag = "8")]
    pub cloud_init_user_data: String,
    #[prost(bool, tag = "13")]
    pub stopped: bool,
    #[prost(message, optional, tag = "19")]
    pub preemptible: Option<PreemptibleSpec>,
    #[prost(string, tag = "20")]
    pub hostname: String,
}

/// `nebius.compute.v1.ResourcesSpec` (`preset` is the oneof `size`'s one member).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourcesSpec {
    #[prost(string, tag = "1")]
    pub platform: String,
    #[prost(string, optional, tag = "2")]
    pub preset: Option<String>,
}

/// `nebius.compute.v1.NetworkInterfaceSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NetworkInterfaceSpec {
    #[prost(string, tag = "1")]
    pub subnet_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    /// `IPAddress` (empty: allocate a private address).
    #[prost(message, optional, tag = "3")]
    pub ip_address: Option<Empty>,
    /// `PublicIPAddress` (empty: allocate a dynamic public address).
    #[prost(message, optional, tag = "4")]
    pub public_ip_address: Option<Empty>,
}

/// A message sent with no fields set (`IPAddress`, `PublicIPAddress`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `nebius.compute.v1.AttachedDiskSpec` (`managed_disk` of the oneof `type`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttachedDiskSpec {
    /// `AttachMode`: 2 is `READ_WRITE`.
    #[prost(int32, tag = "1")]
    pub attach_mode: i32,
    #[prost(message, optional, tag = "4")]
    pub managed_disk: Option<ManagedDisk>,
}

/// `nebius.compute.v1.ManagedDisk`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManagedDisk {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "4")]
    pub spec: Option<DiskSpec>,
}

/// `nebius.compute.v1.DiskSpec` (`size_gibibytes` of the oneof `size`,
/// `source_image_family` of the oneof `source`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskSpec {
    #[prost(int64, optional, tag = "4")]
    pub size_gibibytes: Option<i64>,
    /// `DiskType`: 1 is `NETWORK_SSD`.
    #[prost(int32, tag = "6")]
    pub r#type: i32,
    #[prost(string, optional, tag = "8")]
    pub source_image_id: Option<String>,
    #[prost(message, optional, tag = "10")]
    pub source_image_family: Option<SourceImageFamily>,
}

/// `nebius.compute.v1.SourceImageFamily`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceImageFamily {
    #[prost(string, tag = "1")]
    pub image_family: String,
}

/// `nebius.compute.v1.PreemptibleSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreemptibleSpec {
    /// `PreemptionPolicy`: 1 is `STOP`.
    #[prost(int32, tag = "1")]
    pub on_preemption: i32,
    #[prost(int32, tag = "2")]
    pub priority: i32,
}

/// `nebius.compute.v1.InstanceStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstanceStatus {
    /// `InstanceState`: see [`state`].
    #[prost(int32, tag = "1")]
    pub state: i32,
    #[prost(message, repeated, tag = "2")]
    pub network_interfaces: Vec<NetworkInterfaceStatus>,
    #[prost(bool, tag = "5")]
    pub reconciling: bool,
}

/// `nebius.compute.v1.InstanceStatus.InstanceState` values.
pub mod state {
    pub const CREATING: i32 = 1;
    pub const UPDATING: i32 = 2;
    pub const STARTING: i32 = 3;
    pub const RUNNING: i32 = 4;
    pub const STOPPING: i32 = 5;
    pub const STOPPED: i32 = 6;
    pub const DELETING: i32 = 7;
    pub const ERROR: i32 = 8;
}

/// `nebius.compute.v1.NetworkInterfaceStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NetworkInterfaceStatus {
    #[prost(message, optional, tag = "3")]
    pub ip_address: Option<IpAddressStatus>,
    #[prost(message, optional, tag = "4")]
    pub public_ip_address: Option<IpAddressStatus>,
}

/// `nebius.compute.v1.IPAddressStatus` / `PublicIPAddressStatus` (`address = 1`,
/// CIDR notation).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpAddressStatus {
    #[prost(string, tag = "1")]
    pub address: String,
}

/// `nebius.common.v1.Operation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Operation {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "7")]
    pub resource_id: String,
    #[prost(message, optional, tag = "10")]
    pub status: Option<RpcStatus>,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `nebius.iam.v1.ExchangeTokenRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExchangeTokenRequest {
    #[prost(string, tag = "1")]
    pub grant_type: String,
    #[prost(string, tag = "2")]
    pub requested_token_type: String,
    #[prost(string, tag = "3")]
    pub subject_token: String,
    #[prost(string, tag = "4")]
    pub subject_token_type: String,
}

/// `nebius.iam.v1.CreateTokenResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateTokenResponse {
    #[prost(string, tag = "1")]
    pub access_token: String,
    #[prost(int64, tag = "4")]
    pub expires_in: i64,
}
