//! What runs on a cluster once it is up: reaching nodes (local folders or SSH),
//! gang-starting a job on all of them, the head node's job queue and its
//! resource-aware scheduler, and the node's GPU inventory.

pub mod gang;
pub mod gpus;
pub mod node;
pub mod queue;
pub mod scheduler;
