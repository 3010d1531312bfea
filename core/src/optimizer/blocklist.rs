//! Offers that failover has ruled out: partial specs where a missing field matches
//! anything (block a zone, a region for one instance type, or a whole cloud).

use serde::{Deserialize, Serialize};

use super::Candidate;

/// One blocked pattern; `None` fields are wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedSpec {
    /// Cloud.
    pub cloud: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Zone.
    pub zone: Option<String>,
    /// Instance type.
    pub instance_type: Option<String>,
    /// Spot or on-demand.
    pub use_spot: Option<bool>,
}

impl BlockedSpec {
    /// Whether `candidate` falls under this pattern.
    pub fn matches(&self, candidate: &Candidate) -> bool {
        fn field(pattern: &Option<String>, value: Option<&str>) -> bool {
            match pattern {
                None => true,
                Some(p) => value == Some(p.as_str()),
            }
        }
        field(&self.cloud, Some(&candidate.cloud))
            && field(&self.region, Some(&candidate.region))
            && field(&self.zone, candidate.zone.as_deref())
            && field(&self.instance_type, Some(&candidate.instance_type))
            && self.use_spot.is_none_or(|s| s == candidate.use_spot)
    }

    /// Whether every candidate this pattern matches is also matched by `other`.
    fn covered_by(&self, other: &BlockedSpec) -> bool {
        fn within(mine: &Option<String>, theirs: &Option<String>) -> bool {
            theirs.is_none() || theirs == mine
        }
        within(&self.cloud, &other.cloud)
            && within(&self.region, &other.region)
            && within(&self.zone, &other.zone)
            && within(&self.instance_type, &other.instance_type)
            && (other.use_spot.is_none() || other.use_spot == self.use_spot)
    }
}

/// A set of blocked patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocklist {
    specs: Vec<BlockedSpec>,
}

impl Blocklist {
    /// An empty blocklist.
    pub fn new() -> Self {
        Blocklist::default()
    }

    /// Blocks a pattern; one already covered by a broader entry is not added.
    pub fn block(&mut self, spec: BlockedSpec) {
        if self.specs.iter().any(|s| spec.covered_by(s)) {
            return;
        }
        self.specs.retain(|s| !s.covered_by(&spec));
        self.specs.push(spec);
    }

    /// Whether `candidate` is blocked.
    pub fn is_blocked(&self, candidate: &Candidate) -> bool {
        self.specs.iter().any(|s| s.matches(candidate))
    }

    /// The patterns.
    pub fn specs(&self) -> &[BlockedSpec] {
        &self.specs
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn candidate(cloud: &str, region: &str, zone: Option<&str>, spot: bool) -> Candidate {
        Candidate {
            cloud: cloud.into(),
            region: region.into(),
            zone: zone.map(str::to_string),
            instance_type: "p4d.24xlarge".into(),
            accelerators: BTreeMap::new(),
            use_spot: spot,
            vcpus: 96.0,
            memory_gib: 1152.0,
            hourly_price: 30.0,
        }
    }

    #[test]
    fn wildcards_block_zone_region_cloud_and_spot() {
        let mut b = Blocklist::new();
        b.block(BlockedSpec {
            cloud: Some("aws".into()),
            region: Some("us-east-1".into()),
            zone: Some("use1-az1".into()),
            ..BlockedSpec::default()
        });
        assert!(b.is_blocked(&candidate("aws", "us-east-1", Some("use1-az1"), false)));
        assert!(!b.is_blocked(&candidate("aws", "us-east-1", Some("use1-az2"), false)));
        b.block(BlockedSpec {
            cloud: Some("gcp".into()),
            use_spot: Some(true),
            ..BlockedSpec::default()
        });
        assert!(b.is_blocked(&candidate("gcp", "us-central1", None, true)));
        assert!(!b.is_blocked(&candidate("gcp", "us-central1", None, false)));
        // A broader entry replaces the narrower one it covers.
        b.block(BlockedSpec {
            cloud: Some("aws".into()),
            ..BlockedSpec::default()
        });
        assert_eq!(b.specs().len(), 2);
        assert!(b.is_blocked(&candidate("aws", "eu-west-1", None, true)));
        // And a narrower one under it is not added.
        b.block(BlockedSpec {
            cloud: Some("aws".into()),
            region: Some("eu-west-1".into()),
            ..BlockedSpec::default()
        });
        assert_eq!(b.specs().len(), 2);
    }
}
