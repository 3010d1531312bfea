//! SkyServe's service and replica statuses, as aloft keeps and shows them.

use serde::{Deserialize, Serialize};

macro_rules! named_statuses {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The name SkyPilot uses.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The status of a stored name.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_statuses! {
    /// Where a service is.
    ServiceStatus {
        /// Submitted; the controller has not taken it up yet.
        ControllerInit = "CONTROLLER_INIT",
        /// Replicas are starting; none is ready.
        ReplicaInit = "REPLICA_INIT",
        /// At least one replica answers behind the endpoint.
        Ready = "READY",
        /// No replica is running or starting.
        NoReplica = "NO_REPLICA",
        /// `serve down`: replicas are being torn down.
        ShuttingDown = "SHUTTING_DOWN",
        /// Every replica failed and none is being replaced.
        Failed = "FAILED",
        /// The controller could not run the service (its endpoint, its spec).
        ControllerFailed = "CONTROLLER_FAILED",
    }
}

named_statuses! {
    /// Where one replica is.
    ReplicaStatus {
        /// Decided, not launched yet.
        Pending = "PENDING",
        /// Its cluster is being launched.
        Provisioning = "PROVISIONING",
        /// Launched; its readiness probe has not passed yet.
        Starting = "STARTING",
        /// Passes its readiness probe; behind the endpoint.
        Ready = "READY",
        /// Was ready; fails its probe now (out of the endpoint).
        NotReady = "NOT_READY",
        /// Being torn down.
        ShuttingDown = "SHUTTING_DOWN",
        /// Its job ended or its cluster failed.
        Failed = "FAILED",
        /// Never passed its probe within the initial delay.
        FailedInitialDelay = "FAILED_INITIAL_DELAY",
        /// Failed its probe longer than the failure threshold.
        FailedProbing = "FAILED_PROBING",
        /// Could not be launched.
        FailedProvision = "FAILED_PROVISION",
        /// Its spot instance was taken back by the cloud.
        Preempted = "PREEMPTED",
    }
}

impl ReplicaStatus {
    /// Whether the replica is on its way out or gone (it no longer counts toward
    /// the service's replicas).
    pub fn is_leaving(self) -> bool {
        matches!(
            self,
            ReplicaStatus::ShuttingDown
                | ReplicaStatus::Failed
                | ReplicaStatus::FailedInitialDelay
                | ReplicaStatus::FailedProbing
                | ReplicaStatus::FailedProvision
                | ReplicaStatus::Preempted
        )
    }

    /// Scale-down order: replicas earlier in this order go first.
    pub fn scale_down_rank(self) -> u8 {
        match self {
            ReplicaStatus::Pending => 0,
            ReplicaStatus::Provisioning => 1,
            ReplicaStatus::Starting => 2,
            ReplicaStatus::NotReady => 3,
            _ => 4,
        }
    }
}
