//! The task model: what to run and on what resources, SkyPilot 0.14 compatible.
//!
//! Read a task file with [`TaskChain::from_yaml_file`] (or [`TaskChain::from_yaml_str`]),
//! build one in code with [`Task::builder`], write it back with
//! [`TaskChain::to_yaml_string`]. Resources come out normalized as a [`ResourceSet`]
//! of candidates, with accelerator alternatives and `any_of` / `ordered` expanded.
//!
//! ```
//! use aloft::task::{Overrides, Task, TaskChain};
//!
//! // A SkyPilot task file, read as it is; errors name file, line, column and field.
//! let chain = TaskChain::from_yaml_str(
//!     "resources:\n  accelerators: {A100:8, H100:8}\nnum_nodes: 2\nrun: python train.py\n",
//!     "train.yaml",
//!     &Overrides::default(),
//! )?;
//! let task = &chain.tasks()[0];
//! assert_eq!(task.num_nodes, 2);
//! assert_eq!(task.resources.candidates().len(), 2, "one candidate per accelerator");
//!
//! let err = TaskChain::from_yaml_str("resources:\n  acclerators: A100\n", "bad.yaml", &Overrides::default())
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("bad.yaml:2:3"), "{err}");
//!
//! // The same kind of task, built in code.
//! let built = Task::builder().run("echo hi").num_nodes(2).build()?;
//! assert_eq!(built.run.as_deref(), Some("echo hi"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How parsing works, and why
//! The YAML is parsed once into a positioned tree ([`yaml`]: `yaml-rust2` events,
//! resolved with PyYAML's YAML 1.1 rules so values mean what they mean to SkyPilot),
//! then converted by hand, field by field, through one cursor type that carries the
//! node's field path and position. Every error therefore names file, line, column
//! and path (`t.yaml:4:3: resources.any_of[1].accelerators: ...`), with a
//! did-you-mean for near-miss names, without special cases. `serde`-derived parsing
//! was rejected: it loses positions below the first error and cannot express
//! SkyPilot's forms (`{A100:1, V100:1}`, `any_of` overlays, `null` env values).
//!
//! Output uses a small emitter of our own ([`TaskChain::to_yaml_string`]): a string
//! is written plain only when the reader reads it back as the same string, which
//! `serde_yaml`'s YAML 1.2 quoting does not guarantee under YAML 1.1 reading
//! (`yes`, `on`, `010`). Every accepted task writes back and reads back equal
//! (tested over the golden files, the SkyPilot examples and fuzzed inputs).
//!
//! Guards: nesting depth and alias expansion are bounded, so no input can overflow
//! the stack or exhaust memory; no input panics (see the fuzz test).
//!
//! Deliberate differences from SkyPilot: duplicate mapping keys are errors (PyYAML
//! keeps the last); `envs` values that are lists or mappings are errors (SkyPilot
//! would stringify them); internal fields (`_metadata`, `file_mounts_mapping`,
//! `volume_mounts`, `_docker_login_config`, ...) are unknown fields; a TPU name
//! does not force `infra: gcp` here (the optimizer decides).

mod builder;
mod chain;
mod clouds;
mod config;
mod emit;
mod envs;
mod error;
mod overrides;
mod paths;
pub mod resources;
mod resources_yaml;
mod service;
mod source;
mod spec;
mod storage;
pub mod support;
pub mod units;
mod walk;
pub mod yaml;

pub use builder::TaskBuilder;
pub use chain::TaskChain;
pub use clouds::check_cloud_names;
pub use config::{Hook, OVERRIDABLE_KEYS, TaskConfig};
pub use envs::{ManagedSecret, Secret, SecretValue, substitute_str, valid_env_name};
#[cfg(feature = "plugin")]
pub(crate) use error::suggest;
pub use error::{Located, TaskError};
pub use overrides::Overrides;
pub use resources::*;
pub use resources_yaml::DEFAULT_AUTOSTOP_IDLE_MINUTES;
pub use service::{
    LB_POLICIES, LoadBalancer, PoolSpec, ReadinessProbe, ReplicaPolicy, ServiceSpec, TargetQps, Tls,
};
pub use source::{LoadedTasks, SourceError, TaskSource, dotenv_file, key_values};
pub use spec::{DataRef, Task, VolumeMount, Workdir};
pub use storage::{FileMount, STORES, StorageMode, StorageSpec};
