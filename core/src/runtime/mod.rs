//! What runs on a cluster once it is up: reaching nodes (local folders or SSH), the
//! head node's resource-aware job scheduler, and the node's GPU inventory.

pub mod gpus;
pub mod node;
pub mod scheduler;
