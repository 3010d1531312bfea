//! The head node's job scheduler: strict FIFO over the cluster's CPUs and GPUs.
//!
//! Each job asks for the same amount on each of `num_nodes` distinct nodes (a gang).
//! GPUs are whole devices, or a fraction of one device when a job asks for less than
//! one (`A100:0.5` lets two jobs share a GPU); a job that gets devices is told which
//! through `CUDA_VISIBLE_DEVICES`. The queue is strict FIFO: when the job at its head
//! does not fit, nothing behind it starts, so a large job is never starved by a stream
//! of small ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Tolerance for comparing fractional amounts.
const EPS: f64 = 1e-9;

/// A job's identifier in the queue.
pub type JobId = u64;

/// What one node of the cluster offers.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCapacity {
    /// vCPUs available for jobs.
    pub cpus: f64,
    /// Number of GPU devices (indices `0..gpus`).
    pub gpus: u32,
}

/// What a job asks for, per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// vCPUs per node.
    pub cpus: f64,
    /// GPUs per node: a whole number, or a fraction in `(0, 1)` of one device.
    pub gpus: f64,
    /// Number of distinct nodes (the gang).
    pub num_nodes: u32,
}

/// Where a job runs on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAssignment {
    /// Index of the node in the cluster (0 = head).
    pub node: usize,
    /// The GPU devices the job may use, for `CUDA_VISIBLE_DEVICES`.
    pub gpu_indices: Vec<u32>,
}

impl NodeAssignment {
    /// The value for `CUDA_VISIBLE_DEVICES` (empty when the job has no GPU).
    pub fn cuda_visible_devices(&self) -> String {
        self.gpu_indices
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A request the cluster can never satisfy, or one that makes no sense.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DemandError {
    /// More nodes than the cluster has.
    #[error("the job needs {needed} nodes but the cluster has {available}")]
    TooManyNodes {
        /// Nodes asked for.
        needed: u32,
        /// Nodes in the cluster.
        available: usize,
    },
    /// More CPUs or GPUs per node than any node has.
    #[error("the job needs {what} per node, more than the cluster's nodes have")]
    TooLarge {
        /// What is short, e.g. `8 GPUs`.
        what: String,
    },
    /// A GPU count like `1.5`: fractions must be below one device.
    #[error("a GPU count above 1 must be a whole number, got {0}")]
    BadFraction(f64),
    /// A negative or non-finite amount, or zero nodes.
    #[error("invalid demand: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
struct NodeState {
    capacity: NodeCapacity,
    cpus_used: f64,
    /// Used fraction of each GPU device, `0.0..=1.0`.
    gpu_used: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Running {
    demand: Demand,
    placement: Vec<NodeAssignment>,
}

/// Tracks what is in use on each node and decides which queued jobs start.
#[derive(Debug, Clone)]
pub struct Scheduler {
    nodes: Vec<NodeState>,
    running: BTreeMap<JobId, Running>,
}

impl Scheduler {
    /// A scheduler for a cluster with these nodes (head first).
    pub fn new(nodes: Vec<NodeCapacity>) -> Self {
        let nodes = nodes
            .into_iter()
            .map(|capacity| NodeState {
                gpu_used: vec![0.0; capacity.gpus as usize],
                cpus_used: 0.0,
                capacity,
            })
            .collect();
        Scheduler {
            nodes,
            running: BTreeMap::new(),
        }
    }

    /// Checks that `demand` could ever run on this cluster (when it is empty).
    pub fn check(&self, demand: &Demand) -> Result<(), DemandError> {
        validate(demand)?;
        if demand.num_nodes as usize > self.nodes.len() {
            return Err(DemandError::TooManyNodes {
                needed: demand.num_nodes,
                available: self.nodes.len(),
            });
        }
        let fitting = self
            .nodes
            .iter()
            .filter(|n| {
                n.capacity.cpus + EPS >= demand.cpus
                    && f64::from(n.capacity.gpus) + EPS >= demand.gpus.max(0.0).ceil()
            })
            .count();
        if fitting < demand.num_nodes as usize {
            return Err(DemandError::TooLarge {
                what: format!("{} CPUs and {} GPUs", demand.cpus, demand.gpus),
            });
        }
        Ok(())
    }

    /// Starts as many jobs from the front of `queue` as fit, in order, stopping at
    /// the first that does not fit. Returns the placements of the started jobs.
    ///
    /// Jobs that can never fit ([`Scheduler::check`] fails) must be rejected before
    /// they are queued; one that reaches this point simply blocks the queue.
    pub fn schedule(&mut self, queue: &[(JobId, Demand)]) -> Vec<(JobId, Vec<NodeAssignment>)> {
        let mut started = Vec::new();
        for (id, demand) in queue {
            if self.running.contains_key(id) {
                continue;
            }
            match self.try_place(demand) {
                Some(placement) => {
                    self.commit(*id, demand.clone(), placement.clone());
                    started.push((*id, placement));
                }
                None => break,
            }
        }
        started
    }

    /// Frees what a finished (or cancelled) job held. Unknown ids are ignored.
    pub fn release(&mut self, id: JobId) {
        let Some(job) = self.running.remove(&id) else {
            return;
        };
        let share = gpu_share(job.demand.gpus);
        for assignment in &job.placement {
            let node = &mut self.nodes[assignment.node];
            node.cpus_used = (node.cpus_used - job.demand.cpus).max(0.0);
            for &gpu in &assignment.gpu_indices {
                let used = &mut node.gpu_used[gpu as usize];
                *used = (*used - share).max(0.0);
            }
        }
    }

    /// Ids of the jobs currently holding resources.
    pub fn running(&self) -> impl Iterator<Item = JobId> + '_ {
        self.running.keys().copied()
    }

    fn commit(&mut self, id: JobId, demand: Demand, placement: Vec<NodeAssignment>) {
        let share = gpu_share(demand.gpus);
        for assignment in &placement {
            let node = &mut self.nodes[assignment.node];
            node.cpus_used += demand.cpus;
            for &gpu in &assignment.gpu_indices {
                node.gpu_used[gpu as usize] += share;
            }
        }
        self.running.insert(id, Running { demand, placement });
    }

    /// The first `num_nodes` nodes (in cluster order) that can each hold the demand.
    fn try_place(&self, demand: &Demand) -> Option<Vec<NodeAssignment>> {
        if validate(demand).is_err() {
            return None;
        }
        let mut placement = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            if placement.len() == demand.num_nodes as usize {
                break;
            }
            if node.capacity.cpus - node.cpus_used + EPS < demand.cpus {
                continue;
            }
            if let Some(gpu_indices) = pick_gpus(&node.gpu_used, demand.gpus) {
                placement.push(NodeAssignment {
                    node: index,
                    gpu_indices,
                });
            }
        }
        (placement.len() == demand.num_nodes as usize).then_some(placement)
    }
}

fn validate(demand: &Demand) -> Result<(), DemandError> {
    if demand.num_nodes == 0 {
        return Err(DemandError::Invalid("num_nodes must be at least 1".into()));
    }
    for (name, value) in [("cpus", demand.cpus), ("gpus", demand.gpus)] {
        if !value.is_finite() || value < 0.0 {
            return Err(DemandError::Invalid(format!("{name} = {value}")));
        }
    }
    if demand.gpus > 1.0 + EPS && (demand.gpus - demand.gpus.round()).abs() > EPS {
        return Err(DemandError::BadFraction(demand.gpus));
    }
    Ok(())
}

/// How much of each assigned device a job uses: its fraction, or all of it.
fn gpu_share(gpus: f64) -> f64 {
    if gpus < 1.0 - EPS { gpus } else { 1.0 }
}

/// Devices for a job on one node, or `None` when they are not free.
///
/// A fractional job goes to the fullest device that still has room (packing
/// fractions together keeps whole devices free for whole-device jobs); ties go to
/// the lowest index.
fn pick_gpus(used: &[f64], gpus: f64) -> Option<Vec<u32>> {
    if gpus <= EPS {
        return Some(Vec::new());
    }
    if gpus < 1.0 - EPS {
        return used
            .iter()
            .enumerate()
            .filter(|(_, u)| 1.0 - **u + EPS >= gpus)
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| vec![i as u32]);
    }
    let wanted = gpus.round() as usize;
    let free: Vec<u32> = used
        .iter()
        .enumerate()
        .filter(|(_, u)| **u <= EPS)
        .map(|(i, _)| i as u32)
        .take(wanted)
        .collect();
    (free.len() == wanted).then_some(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cpus: f64, gpus: u32) -> NodeCapacity {
        NodeCapacity { cpus, gpus }
    }

    fn demand(cpus: f64, gpus: f64, num_nodes: u32) -> Demand {
        Demand {
            cpus,
            gpus,
            num_nodes,
        }
    }

    #[test]
    fn two_half_gpu_jobs_share_one_device() {
        let mut s = Scheduler::new(vec![node(8.0, 1)]);
        let started = s.schedule(&[(1, demand(1.0, 0.5, 1)), (2, demand(1.0, 0.5, 1))]);
        assert_eq!(started.len(), 2);
        assert_eq!(started[0].1[0].cuda_visible_devices(), "0");
        assert_eq!(started[1].1[0].cuda_visible_devices(), "0");
        // The device is now full: a third half waits.
        assert!(s.schedule(&[(3, demand(1.0, 0.5, 1))]).is_empty());
        s.release(1);
        assert_eq!(s.schedule(&[(3, demand(1.0, 0.5, 1))]).len(), 1);
    }

    #[test]
    fn fractions_pack_onto_the_fullest_device() {
        let mut s = Scheduler::new(vec![node(8.0, 2)]);
        s.schedule(&[(1, demand(0.0, 0.25, 1))]);
        let started = s.schedule(&[(2, demand(0.0, 0.5, 1))]);
        assert_eq!(started[0].1[0].gpu_indices, vec![0]);
        // Device 1 is still whole, so a whole-device job fits.
        let whole = s.schedule(&[(3, demand(0.0, 1.0, 1))]);
        assert_eq!(whole[0].1[0].gpu_indices, vec![1]);
    }

    #[test]
    fn whole_gpu_jobs_get_distinct_devices() {
        let mut s = Scheduler::new(vec![node(16.0, 4)]);
        let started = s.schedule(&[(1, demand(1.0, 2.0, 1)), (2, demand(1.0, 2.0, 1))]);
        assert_eq!(started[0].1[0].cuda_visible_devices(), "0,1");
        assert_eq!(started[1].1[0].cuda_visible_devices(), "2,3");
        assert!(s.schedule(&[(3, demand(1.0, 1.0, 1))]).is_empty());
    }

    #[test]
    fn a_partly_used_device_is_not_given_to_a_whole_device_job() {
        let mut s = Scheduler::new(vec![node(8.0, 1)]);
        s.schedule(&[(1, demand(0.0, 0.5, 1))]);
        assert!(s.schedule(&[(2, demand(0.0, 1.0, 1))]).is_empty());
    }

    #[test]
    fn strict_fifo_blocks_smaller_jobs_behind_a_large_one() {
        let mut s = Scheduler::new(vec![node(4.0, 0)]);
        s.schedule(&[(1, demand(3.0, 0.0, 1))]);
        let started = s.schedule(&[(2, demand(4.0, 0.0, 1)), (3, demand(1.0, 0.0, 1))]);
        assert!(started.is_empty(), "job 3 must not overtake job 2");
        s.release(1);
        let started = s.schedule(&[(2, demand(4.0, 0.0, 1)), (3, demand(1.0, 0.0, 1))]);
        assert_eq!(
            started.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn gangs_take_distinct_nodes_head_first() {
        let mut s = Scheduler::new(vec![node(4.0, 1), node(4.0, 1), node(4.0, 1)]);
        let started = s.schedule(&[(1, demand(2.0, 1.0, 2))]);
        let nodes: Vec<usize> = started[0].1.iter().map(|a| a.node).collect();
        assert_eq!(nodes, vec![0, 1]);
        // Only node 2 has a free GPU now: a 2-node GPU gang waits.
        assert!(s.schedule(&[(2, demand(1.0, 1.0, 2))]).is_empty());
        assert_eq!(s.schedule(&[(3, demand(1.0, 1.0, 1))])[0].1[0].node, 2);
    }

    #[test]
    fn impossible_demands_are_rejected_up_front() {
        let s = Scheduler::new(vec![node(4.0, 1), node(4.0, 0)]);
        assert!(matches!(
            s.check(&demand(1.0, 0.0, 3)),
            Err(DemandError::TooManyNodes {
                needed: 3,
                available: 2
            })
        ));
        assert!(matches!(
            s.check(&demand(1.0, 1.0, 2)),
            Err(DemandError::TooLarge { .. })
        ));
        assert!(matches!(
            s.check(&demand(1.0, 1.5, 1)),
            Err(DemandError::BadFraction(_))
        ));
        assert!(matches!(
            s.check(&demand(-1.0, 0.0, 1)),
            Err(DemandError::Invalid(_))
        ));
        assert!(s.check(&demand(4.0, 1.0, 1)).is_ok());
    }

    #[test]
    fn release_restores_capacity_exactly() {
        let mut s = Scheduler::new(vec![node(2.0, 1)]);
        for round in 0..100u64 {
            let id = round * 2;
            let started = s.schedule(&[(id, demand(1.0, 0.3, 1)), (id + 1, demand(1.0, 0.7, 1))]);
            assert_eq!(started.len(), 2, "round {round}");
            s.release(id);
            s.release(id + 1);
        }
        assert_eq!(s.running().count(), 0);
        assert_eq!(s.schedule(&[(999, demand(2.0, 1.0, 1))]).len(), 1);
    }
}
