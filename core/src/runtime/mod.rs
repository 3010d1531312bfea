//! What runs on a cluster once it is up: the head node's agent, reaching nodes (local folders or SSH),
//! gang-starting a job on all of them, the head node's job queue and its
//! resource-aware scheduler, the node's GPU inventory and the user's SSH keys.

pub mod address;
pub mod agent;
pub mod agent_cli;
pub mod container;
pub mod daemon;
pub mod gang;
pub mod gpus;
pub mod head;
pub mod keys;
pub mod node;
pub mod node_agents;
pub mod power_off;
pub mod queue;
pub mod scheduler;
pub mod stop_kit;
