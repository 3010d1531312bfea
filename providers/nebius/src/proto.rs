//! The protobuf messages of Nebius's API that this provider sends and reads,
//! declared by hand with prost. Field numbers and types are those of the file
//! descriptors the official `nebius` Python package (0.6.29) carries
//! (`nebius/compute/v1/instance*.proto` and `platform*.proto`,
//! `nebius/common/v1/metadata.proto` and `operation.proto`,
//! `nebius/iam/v1/token_exchange_service.proto`, `nebius/vpc/v1/subnet*.proto`,
//! `security_group*.proto` and `security_rule*.proto`,
//! `nebius/billing/v1/calculator*.proto`); fields this provider neither sends nor
//! reads are left out (protobuf skips unknown fields).

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
    /// `SecurityGroup`s (none: the network's default group).
    #[prost(message, repeated, tag = "7")]
    pub security_groups: Vec<SecurityGroupRef>,
}

/// `nebius.compute.v1.SecurityGroup` (a reference by id).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecurityGroupRef {
    #[prost(string, tag = "1")]
    pub id: String,
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

/// A listing request of the compute and VPC services whose fields are
/// `parent_id = 1, page_size = 2, page_token = 3` (`ListSubnetsRequest`,
/// `ListSecurityGroupsRequest`, `ListSecurityRulesRequest`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListRequest {
    #[prost(string, tag = "1")]
    pub parent_id: String,
    #[prost(int64, tag = "2")]
    pub page_size: i64,
    #[prost(string, tag = "3")]
    pub page_token: String,
}

/// `nebius.compute.v1.ListPlatformsRequest` (its fields are numbered unlike the
/// other listings').
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPlatformsRequest {
    #[prost(int64, tag = "1")]
    pub page_size: i64,
    #[prost(string, tag = "2")]
    pub page_token: String,
    #[prost(string, tag = "3")]
    pub parent_id: String,
}

/// `nebius.compute.v1.ListPlatformsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPlatformsResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<Platform>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}

/// `nebius.compute.v1.Platform`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Platform {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<PlatformSpec>,
    #[prost(message, optional, tag = "3")]
    pub status: Option<PlatformStatus>,
}

/// `nebius.compute.v1.PlatformSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlatformSpec {
    #[prost(message, repeated, tag = "1")]
    pub presets: Vec<Preset>,
    /// Per GPU (deprecated for `gpu_memory_gigabytes`).
    #[prost(int32, tag = "11")]
    pub gpu_memory_gibibytes: i32,
    /// Per GPU.
    #[prost(int32, tag = "12")]
    pub gpu_memory_gigabytes: i32,
}

/// `nebius.compute.v1.Preset`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Preset {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub resources: Option<PresetResources>,
}

/// `nebius.compute.v1.PresetResources`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PresetResources {
    #[prost(int32, tag = "1")]
    pub vcpu_count: i32,
    #[prost(int32, tag = "3")]
    pub memory_gibibytes: i32,
    #[prost(int32, tag = "4")]
    pub gpu_count: i32,
}

/// `nebius.compute.v1.PlatformStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlatformStatus {
    #[prost(bool, tag = "3")]
    pub allowed_for_preemptibles: bool,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `nebius.billing.v1.EstimateBatchRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EstimateBatchRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_specs: Vec<BillingResourceSpec>,
    #[prost(string, tag = "11")]
    pub currency: String,
    #[prost(message, optional, tag = "20")]
    pub filter_aggregation_unit: Option<FilterAggregationUnit>,
}

/// `nebius.billing.v1.ResourceSpec`: a create request of the resource priced.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BillingResourceSpec {
    #[prost(message, optional, tag = "1")]
    pub spec: Option<Any>,
}

/// `nebius.billing.v1.FilterAggregationUnit`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FilterAggregationUnit {
    /// `FilterAggregationUnitValue`: 2 is `FILTER_AGGREGATION_UNIT_HOUR`.
    #[prost(int32, repeated, tag = "1")]
    pub filter_aggregation_unit_values: Vec<i32>,
}

/// `nebius.billing.v1.EstimateBatchResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EstimateBatchResponse {
    #[prost(message, repeated, tag = "1")]
    pub resource_costs: Vec<ResourceCost>,
    #[prost(string, tag = "20")]
    pub currency: String,
}

/// `nebius.billing.v1.ResourceCost` (`general` and `fixed_instance` of the
/// oneof `cost_type`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceCost {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "4")]
    pub aggregation_unit: Option<AggregationUnit>,
    #[prost(message, optional, tag = "20")]
    pub general: Option<GeneralResourceCost>,
    #[prost(message, optional, tag = "21")]
    pub fixed_instance: Option<FixedInstanceResourceCost>,
}

/// `nebius.billing.v1.AggregationUnit`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregationUnit {
    #[prost(string, tag = "1")]
    pub unit: String,
}

/// `nebius.billing.v1.GeneralResourceCost`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GeneralResourceCost {
    #[prost(message, optional, tag = "1")]
    pub total: Option<CostBreakdown>,
}

/// `nebius.billing.v1.FixedInstanceResourceCost`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FixedInstanceResourceCost {
    #[prost(message, optional, tag = "2")]
    pub per_instance: Option<CostBreakdown>,
}

/// `nebius.billing.v1.CostBreakdown` (`cost`: a decimal string).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CostBreakdown {
    #[prost(string, tag = "2")]
    pub cost: String,
}

/// `nebius.vpc.v1.ListSubnetsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListSubnetsResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<Subnet>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}

/// `nebius.vpc.v1.Subnet`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Subnet {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SubnetSpec>,
}

/// `nebius.vpc.v1.SubnetSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubnetSpec {
    #[prost(string, tag = "1")]
    pub network_id: String,
}

/// `nebius.vpc.v1.CreateSecurityGroupRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateSecurityGroupRequest {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SecurityGroupSpec>,
}

/// `nebius.vpc.v1.SecurityGroupSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecurityGroupSpec {
    #[prost(string, tag = "1")]
    pub network_id: String,
}

/// `nebius.vpc.v1.SecurityGroup`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecurityGroup {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SecurityGroupSpec>,
}

/// `nebius.vpc.v1.ListSecurityGroupsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListSecurityGroupsResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<SecurityGroup>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}

/// `nebius.vpc.v1.CreateSecurityRuleRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateSecurityRuleRequest {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SecurityRuleSpec>,
}

/// `nebius.vpc.v1.SecurityRuleSpec` (`ingress` and `egress` of the oneof
/// `match`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecurityRuleSpec {
    /// `RuleAccessAction`: 1 is `ALLOW`.
    #[prost(int32, tag = "1")]
    pub access: i32,
    #[prost(int32, tag = "2")]
    pub priority: i32,
    /// `RuleProtocol`: see [`protocol`].
    #[prost(int32, tag = "3")]
    pub protocol: i32,
    #[prost(message, optional, tag = "4")]
    pub ingress: Option<RuleMatch>,
    #[prost(message, optional, tag = "5")]
    pub egress: Option<RuleMatch>,
}

/// `nebius.vpc.v1.RuleProtocol` values.
pub mod protocol {
    pub const ANY: i32 = 1;
    pub const TCP: i32 = 2;
}

/// `nebius.vpc.v1.RuleIngress` (`source_*`) and `RuleEgress`
/// (`destination_*`): the same three fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RuleMatch {
    /// The peer security group.
    #[prost(string, tag = "1")]
    pub security_group_id: String,
    /// The peer CIDRs (none: any address).
    #[prost(string, repeated, tag = "2")]
    pub cidrs: Vec<String>,
    /// Destination ports (none: any port; at most 8).
    #[prost(int32, repeated, tag = "3")]
    pub destination_ports: Vec<i32>,
}

/// `nebius.vpc.v1.SecurityRule`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecurityRule {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ResourceMetadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SecurityRuleSpec>,
}

/// `nebius.vpc.v1.ListSecurityRulesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListSecurityRulesResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<SecurityRule>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}
