//! What runs on a cluster once it is up: reaching nodes (local folders or SSH), the
//! head node's job queue and its resource-aware scheduler, and the node's GPU inventory.

pub mod gpus;
pub mod node;
pub mod queue;
pub mod scheduler;
