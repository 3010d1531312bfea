//! What moving data out of a cloud costs: the source cloud's tiered internet egress
//! price (SkyPilot's figures). Data between tasks on the same cloud is free.

/// USD to move `gigabytes` out of `cloud` to another cloud.
pub fn egress_cost(cloud: &str, gigabytes: f64) -> f64 {
    if gigabytes <= 0.0 {
        return 0.0;
    }
    match cloud {
        "aws" => tiered_after_first_gb(gigabytes, [0.09, 0.085, 0.07], 0.05),
        "azure" => tiered_after_first_gb(gigabytes, [0.0875, 0.083, 0.07], 0.05),
        "gcp" => {
            let rate = if gigabytes <= 1024.0 {
                0.12
            } else if gigabytes <= 10.0 * 1024.0 {
                0.11
            } else {
                0.08
            };
            rate * gigabytes
        }
        // Lambda and RunPod do not charge for egress.
        "lambda" | "runpod" => 0.0,
        // Unknown price lists: AWS's tiers, a deliberately conservative default.
        _ => tiered_after_first_gb(gigabytes, [0.09, 0.085, 0.07], 0.05),
    }
}

/// AWS-style tiers: the first GB free, then `rates[0]` up to 10 TB, `rates[1]` up
/// to 50 TB, `rates[2]` beyond; above 150 TB a flat `flat` on everything.
fn tiered_after_first_gb(gigabytes: f64, rates: [f64; 3], flat: f64) -> f64 {
    const TB: f64 = 1024.0;
    if gigabytes > 150.0 * TB {
        return flat * gigabytes;
    }
    let mut remaining = gigabytes;
    let mut cost = 0.0;
    if remaining > 50.0 * TB {
        cost += (remaining - 50.0 * TB) * rates[2];
        remaining = 50.0 * TB;
    }
    if remaining > 10.0 * TB {
        cost += (remaining - 10.0 * TB) * rates[1];
        remaining = 10.0 * TB;
    }
    if remaining > 1.0 {
        cost += (remaining - 1.0) * rates[0];
    }
    cost
}

/// Seconds to move `gigabytes` between two clouds (10 Gbps), 0 within a cloud.
pub fn egress_seconds(same_cloud: bool, gigabytes: f64) -> f64 {
    if same_cloud {
        0.0
    } else {
        gigabytes * 8.0 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_tiers_match_the_published_steps() {
        assert_eq!(egress_cost("aws", 1.0), 0.0);
        assert!((egress_cost("aws", 101.0) - 100.0 * 0.09).abs() < 1e-9);
        // 20 TB: (10 TB - 1 GB) at 0.09 + 10 TB at 0.085.
        let tb = 1024.0;
        let expected = (10.0 * tb - 1.0) * 0.09 + 10.0 * tb * 0.085;
        assert!((egress_cost("aws", 20.0 * tb) - expected).abs() < 1e-6);
        assert!((egress_cost("aws", 200.0 * tb) - 200.0 * tb * 0.05).abs() < 1e-6);
    }

    #[test]
    fn gcp_brackets_and_free_clouds() {
        assert!((egress_cost("gcp", 100.0) - 12.0).abs() < 1e-9);
        assert!((egress_cost("gcp", 2048.0) - 2048.0 * 0.11).abs() < 1e-9);
        assert_eq!(egress_cost("lambda", 1000.0), 0.0);
        assert_eq!(egress_cost("runpod", 1000.0), 0.0);
        assert_eq!(egress_cost("aws", 0.0), 0.0);
        assert_eq!(egress_seconds(true, 100.0), 0.0);
        assert_eq!(egress_seconds(false, 10.0), 8.0);
    }
}
