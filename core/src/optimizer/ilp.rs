//! Joint placement of a general DAG as an integer program (good_lp, pure-Rust
//! microlp solver), in SkyPilot's formulation.
//!
//! A binary `x[t][i]` picks option `i` for task `t` (exactly one per task). Egress
//! depends only on the clouds of an edge's two ends, so each edge gets continuous
//! `y[e][k][l]` for the pair (cloud `k` of the source, cloud `l` of the target),
//! tied to the choices by row and column sums: `Σ_l y[e][k][l] = Σ_{i on k} x[u][i]`
//! and `Σ_k y[e][k][l] = Σ_{j on l} x[v][j]`. Once the `x` are one-hot, the sums
//! force `y[e][k*][l*] = 1`, so the `y` need not be integer. The objective is
//! `Σ cost·x + Σ egress·y`.

use good_lp::{
    Expression, ProblemVariables, Solution, SolverModel, Variable, constraint, microlp, variable,
};

use super::OptimizeError;

/// A placement problem: options per task, and the data moved along each edge.
#[derive(Debug, Clone, Default)]
pub struct PlacementProblem {
    /// `cost[t][i]`: the objective value of option `i` for task `t`.
    pub cost: Vec<Vec<f64>>,
    /// `cloud[t][i]`: the cloud (an index into the `egress` matrices) of that option.
    pub cloud: Vec<Vec<usize>>,
    /// Number of distinct clouds.
    pub clouds: usize,
    /// Edges `(from, to, egress)` where `egress[k][l]` is the cost of the edge's data
    /// going from cloud `k` to cloud `l`.
    pub edges: Vec<(usize, usize, Vec<Vec<f64>>)>,
}

impl PlacementProblem {
    /// The objective value of a choice of one option per task.
    pub fn value(&self, choice: &[usize]) -> f64 {
        let tasks: f64 = choice
            .iter()
            .enumerate()
            .map(|(t, &i)| self.cost[t][i])
            .sum();
        let edges: f64 = self
            .edges
            .iter()
            .map(|(u, v, egress)| egress[self.cloud[*u][choice[*u]]][self.cloud[*v][choice[*v]]])
            .sum();
        tasks + edges
    }
}

/// Solves `problem`; returns the chosen option per task.
pub fn solve(problem: &PlacementProblem) -> Result<Vec<usize>, OptimizeError> {
    if problem.cost.iter().any(Vec::is_empty) {
        return Err(OptimizeError::Solver("a task has no option".into()));
    }
    let mut vars = ProblemVariables::new();
    let x: Vec<Vec<Variable>> = problem
        .cost
        .iter()
        .map(|options| {
            options
                .iter()
                .map(|_| vars.add(variable().binary()))
                .collect()
        })
        .collect();
    let y: Vec<Vec<Vec<Variable>>> = problem
        .edges
        .iter()
        .map(|_| {
            (0..problem.clouds)
                .map(|_| {
                    (0..problem.clouds)
                        .map(|_| vars.add(variable().min(0.0).max(1.0)))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut objective = Expression::from(0.0);
    for (t, options) in problem.cost.iter().enumerate() {
        for (i, cost) in options.iter().enumerate() {
            objective += *cost * x[t][i];
        }
    }
    for (e, (_, _, egress)) in problem.edges.iter().enumerate() {
        for (k, row) in egress.iter().enumerate() {
            for (l, cost) in row.iter().enumerate() {
                if *cost != 0.0 {
                    objective += *cost * y[e][k][l];
                }
            }
        }
    }
    let mut model = vars.minimise(objective).using(microlp);
    for row in &x {
        let one: Expression = row.iter().copied().sum();
        model.add_constraint(constraint!(one == 1.0));
    }
    for ((u, v, _), pairs) in problem.edges.iter().zip(&y) {
        // Row k: the edge leaves cloud k exactly when the source task is on k.
        for (k, row) in pairs.iter().enumerate() {
            let leaving: Expression = row.iter().copied().sum();
            let chosen = on_cloud(&x[*u], &problem.cloud[*u], k);
            model.add_constraint(constraint!(leaving == chosen));
        }
        // Column l: it arrives on cloud l exactly when the target task is on l.
        for l in 0..problem.clouds {
            let arriving: Expression = pairs.iter().map(|row| row[l]).sum();
            let chosen = on_cloud(&x[*v], &problem.cloud[*v], l);
            model.add_constraint(constraint!(arriving == chosen));
        }
    }
    let solution = model
        .solve()
        .map_err(|e| OptimizeError::Solver(e.to_string()))?;
    Ok(x.iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| solution.value(*a.1).total_cmp(&solution.value(*b.1)))
                .map_or(0, |(i, _)| i)
        })
        .collect())
}

fn on_cloud(x: &[Variable], clouds: &[usize], cloud: usize) -> Expression {
    x.iter()
        .zip(clouds)
        .filter(|(_, c)| **c == cloud)
        .map(|(v, _)| *v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination, for checking the solver on small problems.
    fn brute_force(p: &PlacementProblem) -> f64 {
        let mut best = f64::INFINITY;
        let mut choice = vec![0; p.cost.len()];
        loop {
            best = best.min(p.value(&choice));
            let mut t = 0;
            loop {
                if t == choice.len() {
                    return best;
                }
                choice[t] += 1;
                if choice[t] < p.cost[t].len() {
                    break;
                }
                choice[t] = 0;
                t += 1;
            }
        }
    }

    /// A small deterministic generator (no external randomness in tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn matches_brute_force_on_random_small_dags() {
        let mut rng = Lcg(7);
        for round in 0..40 {
            let tasks = 2 + rng.below(4) as usize;
            let clouds = 2 + rng.below(2) as usize;
            let cost: Vec<Vec<f64>> = (0..tasks)
                .map(|_| {
                    (0..1 + rng.below(4))
                        .map(|_| rng.below(100) as f64)
                        .collect()
                })
                .collect();
            let cloud: Vec<Vec<usize>> = cost
                .iter()
                .map(|o| {
                    o.iter()
                        .map(|_| rng.below(clouds as u64) as usize)
                        .collect()
                })
                .collect();
            let mut edges = Vec::new();
            for v in 1..tasks {
                for u in 0..v {
                    if rng.below(3) == 0 || u + 1 == v {
                        let egress = (0..clouds)
                            .map(|k| {
                                (0..clouds)
                                    .map(|l| if k == l { 0.0 } else { rng.below(60) as f64 })
                                    .collect()
                            })
                            .collect();
                        edges.push((u, v, egress));
                    }
                }
            }
            let problem = PlacementProblem {
                cost,
                cloud,
                clouds,
                edges,
            };
            let choice = solve(&problem).unwrap();
            let expected = brute_force(&problem);
            assert!(
                (problem.value(&choice) - expected).abs() < 1e-6,
                "round {round}: solver {} vs brute force {expected}",
                problem.value(&choice)
            );
        }
    }
}
