//! GCP's catalog lists host VMs and accelerators as separate rows (an accelerator row
//! has an empty `InstanceType` and the price of one device). An offer is a host VM
//! with a number of devices, priced together: host price + count × device price, in
//! the same zone — as SkyPilot's `gcp_catalog` does.
//!
//! Which host goes with which device count follows SkyPilot's table for the GPUs
//! that come in fixed machine shapes (A100, A100-80GB, H100, H100-MEGA, L4). T4,
//! V100, P100 and P4 attach to N1 hosts, which the shipped snapshot does not list, so
//! they have no GCP offers until a catalog with N1 rows is installed. TPUs are offered
//! as `TPU-VM` with the TPU slice's own price.

use std::collections::HashMap;

use super::Offer;

/// Host machine types for `count` devices of `accelerator`.
fn hosts_for(accelerator: &str, count: u32) -> &'static [&'static str] {
    match (accelerator, count) {
        ("A100", 1) => &["a2-highgpu-1g"],
        ("A100", 2) => &["a2-highgpu-2g"],
        ("A100", 4) => &["a2-highgpu-4g"],
        ("A100", 8) => &["a2-highgpu-8g"],
        ("A100", 16) => &["a2-megagpu-16g"],
        ("A100-80GB", 1) => &["a2-ultragpu-1g"],
        ("A100-80GB", 2) => &["a2-ultragpu-2g"],
        ("A100-80GB", 4) => &["a2-ultragpu-4g"],
        ("A100-80GB", 8) => &["a2-ultragpu-8g"],
        ("H100", 1) => &["a3-highgpu-1g"],
        ("H100", 2) => &["a3-highgpu-2g"],
        ("H100", 4) => &["a3-highgpu-4g"],
        ("H100", 8) => &["a3-highgpu-8g"],
        ("H100-MEGA", 8) => &["a3-megagpu-8g"],
        ("L4", 1) => &[
            "g2-standard-4",
            "g2-standard-8",
            "g2-standard-12",
            "g2-standard-16",
            "g2-standard-32",
        ],
        ("L4", 2) => &["g2-standard-24"],
        ("L4", 4) => &["g2-standard-48"],
        ("L4", 8) => &["g2-standard-96"],
        _ => &[],
    }
}

const COUNTS: [u32; 5] = [1, 2, 4, 8, 16];

/// Host families that are offered on their own, as CPU machines.
const CPU_FAMILIES: [&str; 2] = ["e2-standard-", "n2-standard-"];

/// Builds GCP's offers from its rows.
pub(crate) fn offers(rows: Vec<Offer>) -> Vec<Offer> {
    let (accelerators, hosts): (Vec<Offer>, Vec<Offer>) =
        rows.into_iter().partition(|r| r.instance_type.is_empty());
    let by_zone: HashMap<(&str, Option<&str>), &Offer> = hosts
        .iter()
        .map(|h| ((h.instance_type.as_str(), h.zone.as_deref()), h))
        .collect();
    let mut out = Vec::new();
    for host in &hosts {
        if CPU_FAMILIES
            .iter()
            .any(|f| host.instance_type.starts_with(f))
        {
            out.push(offer(host, None, None));
        }
    }
    for device in &accelerators {
        let Some((name, _)) = &device.accelerator else {
            continue;
        };
        if name.starts_with("tpu-") {
            out.push(Offer {
                cloud: "gcp".into(),
                instance_type: "TPU-VM".into(),
                accelerator: Some((name.clone(), 1.0)),
                vcpus: 0.0,
                memory_gib: 0.0,
                gpu_memory_mib: None,
                price: device.price,
                spot_price: device.spot_price,
                region: device.region.clone(),
                zone: device.zone.clone(),
            });
            continue;
        }
        for count in COUNTS {
            for host_type in hosts_for(name, count) {
                if let Some(host) = by_zone.get(&(*host_type, device.zone.as_deref())) {
                    out.push(offer(host, Some(device), Some(count)));
                }
            }
        }
    }
    out
}

fn offer(host: &Offer, device: Option<&Offer>, count: Option<u32>) -> Offer {
    let n = f64::from(count.unwrap_or(0));
    let add = |host: Option<f64>, device: Option<f64>| match (host, device, count) {
        (Some(h), _, None) => Some(h),
        (Some(h), Some(d), Some(_)) => Some(h + n * d),
        _ => None,
    };
    Offer {
        cloud: "gcp".into(),
        instance_type: host.instance_type.clone(),
        accelerator: device
            .and_then(|d| d.accelerator.as_ref())
            .map(|(name, _)| (name.clone(), n)),
        vcpus: host.vcpus,
        memory_gib: host.memory_gib,
        gpu_memory_mib: device.and_then(|d| d.gpu_memory_mib),
        price: add(host.price, device.and_then(|d| d.price)),
        spot_price: add(host.spot_price, device.and_then(|d| d.spot_price)),
        region: host.region.clone(),
        zone: host.zone.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::vms::parse_rows;

    #[test]
    fn a_gpu_offer_is_the_host_plus_its_devices_in_the_same_zone() {
        let text = "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice\n\
            a2-highgpu-8g,96.0,680.0,,,,r1,r1-a,7.5,2.5\n\
            a2-highgpu-8g,96.0,680.0,,,,r1,r1-b,7.5,\n\
            ,,,A100,1,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 40960}}]},r1,r1-a,2.0,1.0\n\
            ,,,A100,1,,r1,r1-b,2.0,1.0\n\
            ,,,A100,1,,r1,r1-c,2.0,1.0\n\
            n2-standard-8,8.0,32.0,,,,r1,r1-a,0.4,0.1\n";
        let offers = offers(parse_rows(text, "gcp/vms.csv", "gcp").unwrap());
        let a100: Vec<&Offer> = offers.iter().filter(|o| o.accelerator.is_some()).collect();
        assert_eq!(a100.len(), 2, "no host in r1-c: no offer there");
        let a = a100
            .iter()
            .find(|o| o.zone.as_deref() == Some("r1-a"))
            .unwrap();
        assert_eq!(a.accelerator, Some(("A100".to_string(), 8.0)));
        assert!((a.price.unwrap() - (7.5 + 8.0 * 2.0)).abs() < 1e-9);
        assert!((a.spot_price.unwrap() - (2.5 + 8.0 * 1.0)).abs() < 1e-9);
        assert_eq!(a.gpu_memory_mib, Some(40960));
        let b = a100
            .iter()
            .find(|o| o.zone.as_deref() == Some("r1-b"))
            .unwrap();
        assert_eq!(b.spot_price, None, "the host has no spot price there");
        let cpu: Vec<&Offer> = offers.iter().filter(|o| o.accelerator.is_none()).collect();
        assert_eq!(cpu.len(), 1);
        assert_eq!(cpu[0].instance_type, "n2-standard-8");
    }
}
