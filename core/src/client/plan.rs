//! The one planner: which cloud, region and instance type each task gets. The dry
//! run ([`Client::plan`]), the launch, managed jobs and serving all come here, so
//! a plan shows what the launch will do and refuses what the launch would refuse.
//!
//! The rules, in order:
//! - the providers asked are those the task names (`infra:`), else those listed
//!   under `clouds:` in `config.yaml`, else every provider (bundled and installed);
//! - a provider is usable when its credentials check out; its live offers (clouds
//!   without a shipped catalog, and those priced live, whose offers replace their
//!   catalog's: `offers::priced_live`) join the catalog;
//! - [`PlanOptions::all_clouds`] adds every cloud aloft ships prices for, usable or
//!   not (planning only: a launch never uses it);
//! - the optimizer picks the cheapest feasible offer of the usable clouds.

use std::time::Duration;

use crate::optimizer::{Blocklist, Candidate, OptTask, OptimizeOptions, TaskPlan, optimize_task};
use crate::plugin::CredentialSource;
use crate::task::Task;

use super::offers::LiveCatalog;
use super::{Client, ClientError, ClientResult, Event, manifest_capabilities};

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Also consider every cloud aloft ships prices for, whether or not its
    /// provider has credentials here (where a workload would go with accounts
    /// everywhere). Planning only.
    pub all_clouds: bool,
    /// Ask providers for their offers again, even when a cached answer is fresh
    /// (a launch always asks).
    pub refresh_offers: bool,
    /// Offers ruled out before planning (a managed job's recovery blocks the
    /// region it just lost).
    pub blocked: Blocklist,
}

/// One task's place in a [`Plan`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlannedTask {
    /// The task's name.
    pub name: Option<String>,
    /// Nodes it runs on.
    pub num_nodes: u32,
    /// The chosen offer, the alternatives and the clouds left out.
    #[serde(flatten)]
    pub plan: TaskPlan,
}

impl PlannedTask {
    /// Dollars per hour for all its nodes.
    pub fn hourly_cost(&self) -> f64 {
        self.plan.chosen.hourly_price * f64::from(self.num_nodes)
    }
}

/// What a launch of the planned tasks would provision.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// One entry per task, in order.
    pub tasks: Vec<PlannedTask>,
    /// Providers asked that cannot be used, with why.
    pub unusable: Vec<(String, String)>,
    /// Providers asked for their live offers just now.
    pub asked: Vec<String>,
    /// Providers whose cached answer was used, with its age.
    #[serde(skip)]
    pub cached: Vec<(String, Duration)>,
}

impl Plan {
    /// Dollars per hour for every task's nodes.
    pub fn total_hourly_cost(&self) -> f64 {
        self.tasks.iter().map(PlannedTask::hourly_cost).sum()
    }

    /// What a user reads of the plan (and `launch --dryrun -o json` writes): per
    /// task the chosen offer, the ones considered and the clouds left out with
    /// why, unusable providers included.
    pub fn summary(&self) -> PlanSummary {
        let tasks = self
            .tasks
            .iter()
            .map(|task| TaskSummary {
                name: task.name.clone(),
                num_nodes: task.num_nodes,
                chosen: task.plan.chosen.clone(),
                candidates: task.plan.candidates.clone(),
                excluded: (task.plan.excluded.iter())
                    .map(|(cloud, reason)| LeftOut {
                        cloud: cloud.clone(),
                        reason: reason.clone(),
                    })
                    .chain(self.unusable.iter().map(|(cloud, why)| LeftOut {
                        cloud: cloud.clone(),
                        reason: format!("is not usable: {why}"),
                    }))
                    .collect(),
            })
            .collect();
        PlanSummary {
            tasks,
            total_hourly_cost: self.total_hourly_cost(),
        }
    }
}

/// A [`Plan`] as a user reads it ([`Plan::summary`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanSummary {
    /// One entry per task, in order.
    pub tasks: Vec<TaskSummary>,
    /// Dollars per hour for every task's nodes.
    pub total_hourly_cost: f64,
}

/// One task of a [`PlanSummary`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskSummary {
    /// The task's name.
    pub name: Option<String>,
    /// Nodes it runs on.
    pub num_nodes: u32,
    /// The offer a launch takes.
    pub chosen: Candidate,
    /// The best offer of each cloud, accelerator and spot choice, cheapest first.
    pub candidates: Vec<Candidate>,
    /// Clouds with matching offers that cannot run this task, and why.
    pub excluded: Vec<LeftOut>,
}

impl TaskSummary {
    /// Whether `offer` is the one a launch takes: the same cloud, region, zone,
    /// instance type and spot choice as [`TaskSummary::chosen`].
    pub fn is_chosen(&self, offer: &Candidate) -> bool {
        let c = &self.chosen;
        offer.cloud == c.cloud
            && offer.region == c.region
            && offer.zone == c.zone
            && offer.instance_type == c.instance_type
            && offer.use_spot == c.use_spot
    }
}

/// A cloud left out of a plan, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeftOut {
    /// The cloud.
    pub cloud: String,
    /// Why, in words (`is not usable: ...`).
    pub reason: String,
}

/// The optimizer's view of `task`.
pub(crate) fn opt_task(task: &Task) -> OptTask {
    OptTask {
        name: task.name.clone(),
        num_nodes: task.num_nodes,
        resources: task.resources.clone(),
        estimated_hours: None,
    }
}

impl Client {
    /// What a launch of each of `tasks` would provision now: nothing is created.
    /// The rules: the providers asked are those the tasks name (`infra:`), else
    /// `clouds:` of `config.yaml`, else every provider; only those whose
    /// credentials check out are planned; [`PlanOptions::all_clouds`] adds every
    /// cloud aloft ships prices for. A task the launch
    /// would refuse is refused here, with the same error.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use aloft::client::{Client, PlanOptions};
    /// use aloft::task::TaskChain;
    ///
    /// # let home = std::env::temp_dir().join(format!("aloft-doc-plan-{}", std::process::id()));
    /// // No provider components here: the shipped catalogs alone, offline.
    /// let client = Client::builder().home(&home).open()?;
    /// let chain = TaskChain::from_yaml_str(
    ///     "resources: {accelerators: A100:8}\nrun: python train.py\n",
    ///     "train.yaml",
    ///     &Default::default(),
    /// )?;
    /// let options = PlanOptions { all_clouds: true, ..PlanOptions::default() };
    /// let plan = client.plan(chain.tasks(), &options)?;
    /// let chosen = &plan.tasks[0].plan.chosen;
    /// println!("{} {} {}: ${:.2}/h", chosen.cloud, chosen.region, chosen.instance_type, plan.total_hourly_cost());
    /// assert_eq!(chosen.accelerators.get("A100"), Some(&8.0));
    /// assert!(plan.total_hourly_cost() > 0.0);
    /// # std::fs::remove_dir_all(&home)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn plan(&self, tasks: &[Task], options: &PlanOptions) -> ClientResult<Plan> {
        for task in tasks {
            check_launchable(task)?;
        }
        // A task with `volumes:` is planned where its volumes are, as it launches.
        let pinned = tasks
            .iter()
            .map(|t| {
                Ok(self
                    .prepare_volumes(t, None)?
                    .map_or_else(|| t.clone(), |v| v.task))
            })
            .collect::<ClientResult<Vec<Task>>>()?;
        let tasks = pinned.as_slice();
        let (live, opt_options) = self.plan_inputs(tasks, options)?;
        let planned = tasks
            .iter()
            .map(|task| {
                optimize_task(&live.catalog, &opt_task(task), &opt_options)
                    .map(|plan| PlannedTask {
                        name: task.name.clone(),
                        num_nodes: task.num_nodes,
                        plan,
                    })
                    .map_err(|err| live.no_resources(&err))
            })
            .collect::<ClientResult<Vec<_>>>()?;
        let cached_names: Vec<&String> = live.cached.iter().map(|(n, _)| n).collect();
        Ok(Plan {
            tasks: planned,
            asked: live
                .usable
                .iter()
                .filter(|n| !cached_names.contains(n) && !live.shipped.contains(n))
                .cloned()
                .collect(),
            unusable: live.unusable,
            cached: live.cached,
        })
    }

    /// The live offers `tasks` can use and the optimizer's options for them: the
    /// one place the planning rules live (the launch calls it too).
    pub(crate) fn plan_inputs(
        &self,
        tasks: &[Task],
        options: &PlanOptions,
    ) -> ClientResult<(LiveCatalog, OptimizeOptions)> {
        let named = named_clouds(tasks);
        let catalog = self.refreshed_catalog(named.as_deref().or(self.config.clouds.as_deref()))?;
        let shipped = catalog.clouds();
        let ask: Option<Vec<String>> = match (&named, options.all_clouds) {
            // Every shipped catalog plans offline; only clouds without one (those
            // the task names, the user's `clouds:`, installed providers, bundled
            // providers whose credentials are set here) are asked, and those of
            // them priced live (`offers::priced_live`).
            (_, true) => {
                let providers = self.providers()?;
                let manifests = providers.host.manifests();
                let source = super::providers::ConfiguredCredentials::from_config(&self.config)?;
                let mut ask: Vec<String> = named.clone().unwrap_or_default();
                ask.extend(self.config.clouds.clone().unwrap_or_default());
                ask.extend(
                    manifests
                        .iter()
                        .filter(|m| {
                            !providers.bundled.contains(&m.name)
                                || m.credentials.iter().any(|c| source.get(c).is_some())
                        })
                        .map(|m| m.name.clone()),
                );
                ask.retain(|n| !shipped.contains(n) || super::offers::priced_live(&manifests, n));
                ask.sort();
                ask.dedup();
                Some(ask)
            }
            (Some(named), false) => Some(named.clone()),
            (None, false) => self.config.clouds.clone(),
        };
        let live = match &ask {
            Some(ask) if ask.is_empty() => LiveCatalog {
                catalog,
                usable: Vec::new(),
                unusable: Vec::new(),
                cached: Vec::new(),
                shipped,
            },
            _ => self.live_catalog_from(catalog, ask.as_deref(), !options.refresh_offers)?,
        };
        // A cloud the task names but whose provider cannot be used (a bad key) is
        // left out of the plan: say so, with the provider's reason.
        if named.is_some() {
            for (name, why) in &live.unusable {
                self.emit(Event::Warning(format!("{name} is skipped: {why}")));
            }
        }
        let mut enabled = live.usable.clone();
        if options.all_clouds {
            enabled.extend(live.catalog.clouds());
            // A provider that cannot answer is left out even with every cloud
            // (a catalog file of its own must not bring it back).
            enabled.retain(|c| !live.unusable.iter().any(|(name, _)| name == c));
        }
        enabled.sort();
        enabled.dedup();
        let opt_options = OptimizeOptions {
            enabled_clouds: enabled,
            capabilities: manifest_capabilities(self.providers()?),
            blocklist: options.blocked.clone(),
            ..OptimizeOptions::default()
        };
        Ok((live, opt_options))
    }
}

/// The clouds `tasks` name, when every candidate of every task names one.
fn named_clouds(tasks: &[Task]) -> Option<Vec<String>> {
    let mut named = Vec::new();
    for task in tasks {
        for resources in task.resources.candidates() {
            named.push(resources.infra.cloud.clone()?);
        }
    }
    named.sort();
    named.dedup();
    Some(named)
}

/// What a launch refuses before anything is asked or created.
pub(crate) fn check_launchable(task: &Task) -> ClientResult<()> {
    crate::task::support::check_launchable(task).map_err(ClientError::InvalidInput)?;
    super::storage::check_storage(task)
}

#[cfg(test)]
mod chosen_tests {
    use super::*;

    fn offer(region: &str, use_spot: bool, price: f64) -> Candidate {
        Candidate {
            cloud: "aws".into(),
            region: region.into(),
            zone: None,
            instance_type: "p4d.24xlarge".into(),
            accelerators: Default::default(),
            use_spot,
            vcpus: 96.0,
            memory_gib: 1152.0,
            hourly_price: price,
        }
    }

    #[test]
    fn the_chosen_row_is_the_same_offer_whatever_its_price() {
        let summary = TaskSummary {
            name: None,
            num_nodes: 1,
            chosen: offer("us-east-1", false, 32.0),
            candidates: Vec::new(),
            excluded: Vec::new(),
        };
        assert!(summary.is_chosen(&offer("us-east-1", false, 33.0)));
        assert!(!summary.is_chosen(&offer("us-east-1", true, 32.0)));
        assert!(!summary.is_chosen(&offer("us-west-2", false, 32.0)));
    }
}
