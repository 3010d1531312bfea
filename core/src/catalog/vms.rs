//! Reading a cloud's `vms.csv` (SkyPilot's catalog format) into offers.
//!
//! Columns are found by name, never by position: every cloud's fetcher writes its
//! own order. Most clouds list one row per instance type × region (× zone) with the
//! accelerators included; GCP lists host VMs and attachable accelerators as separate
//! rows, which [`super::gcp`] pairs up.

use super::gpu_info::gpu_memory_mib;
use super::{CatalogError, Offer};

/// Column positions of one file's header.
struct Columns {
    instance_type: usize,
    accelerator_name: Option<usize>,
    accelerator_count: Option<usize>,
    vcpus: Option<usize>,
    memory: Option<usize>,
    gpu_info: Option<usize>,
    price: Option<usize>,
    spot_price: Option<usize>,
    region: usize,
    zone: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord, file: &str) -> Result<Columns, CatalogError> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let require = |name: &str| {
            find(name).ok_or_else(|| CatalogError::Malformed {
                file: file.to_string(),
                line: 1,
                detail: format!("missing column `{name}`"),
            })
        };
        Ok(Columns {
            instance_type: require("InstanceType")?,
            accelerator_name: find("AcceleratorName"),
            accelerator_count: find("AcceleratorCount"),
            vcpus: find("vCPUs"),
            memory: find("MemoryGiB"),
            gpu_info: find("GpuInfo"),
            price: find("Price"),
            spot_price: find("SpotPrice"),
            region: require("Region")?,
            zone: find("AvailabilityZone"),
        })
    }
}

/// Parses `text` (the contents of `file`, the catalog of `cloud`) into one offer per
/// row. GCP's accelerator rows come out with an empty instance type; [`super::gcp`]
/// pairs them with their hosts.
pub(crate) fn parse_rows(text: &str, file: &str, cloud: &str) -> Result<Vec<Offer>, CatalogError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| CatalogError::Malformed {
            file: file.to_string(),
            line: 1,
            detail: e.to_string(),
        })?
        .clone();
    let cols = Columns::from_header(&header, file)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| CatalogError::Malformed {
            file: file.to_string(),
            line: e.position().map_or(0, |p| p.line()),
            detail: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let number = |name: &str, i: Option<usize>| -> Result<Option<f64>, CatalogError> {
            match cell(i) {
                None => Ok(None),
                Some(text) => match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                    _ => Err(CatalogError::Malformed {
                        file: file.to_string(),
                        line,
                        detail: format!("{name} `{text}` is not a non-negative number"),
                    }),
                },
            }
        };
        let Some(region) = cell(Some(cols.region)) else {
            return Err(CatalogError::Malformed {
                file: file.to_string(),
                line,
                detail: "empty Region".into(),
            });
        };
        let count = number("AcceleratorCount", cols.accelerator_count)?;
        let accelerator = match (cell(cols.accelerator_name), count) {
            (Some(name), Some(count)) if count > 0.0 => Some((name.to_string(), count)),
            (Some(name), None) => Some((name.to_string(), 1.0)),
            _ => None,
        };
        rows.push(Offer {
            cloud: cloud.to_string(),
            instance_type: cell(Some(cols.instance_type)).unwrap_or("").to_string(),
            accelerator,
            vcpus: number("vCPUs", cols.vcpus)?.unwrap_or(0.0),
            memory_gib: number("MemoryGiB", cols.memory)?.unwrap_or(0.0),
            gpu_memory_mib: cell(cols.gpu_info).and_then(gpu_memory_mib),
            price: number("Price", cols.price)?,
            spot_price: number("SpotPrice", cols.spot_price)?,
            region: region.to_string(),
            zone: cell(cols.zone).map(str::to_string),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_read_by_name_in_any_order() {
        let text = "Region,Price,InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,SpotPrice\r\n\
                    us-east-1,1.5,x.large,8,32,T4,1.0,\r\n";
        let rows = parse_rows(text, "t/vms.csv", "t").unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.instance_type, "x.large");
        assert_eq!(r.region, "us-east-1");
        assert_eq!(r.accelerator, Some(("T4".to_string(), 1.0)));
        assert_eq!(r.price, Some(1.5));
        assert_eq!(
            r.spot_price, None,
            "an empty SpotPrice means no spot offering"
        );
        assert_eq!(r.zone, None);
    }

    #[test]
    fn a_bad_number_names_the_file_and_line() {
        let text = "InstanceType,Region,Price\na,r,1\nb,r,cheap\n";
        let err = parse_rows(text, "aws/vms.csv", "aws").unwrap_err();
        assert_eq!(
            err.to_string(),
            "aws/vms.csv:3: Price `cheap` is not a non-negative number"
        );
        let err = parse_rows("Region,Price\nr,1\n", "x/vms.csv", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x/vms.csv:1: missing column `InstanceType`"
        );
    }

    #[test]
    fn fractional_counts_are_kept() {
        let text = "InstanceType,AcceleratorName,AcceleratorCount,Region\nnv6,A10,0.167,eastus\n";
        let rows = parse_rows(text, "azure/vms.csv", "azure").unwrap();
        assert_eq!(rows[0].accelerator, Some(("A10".to_string(), 0.167)));
    }
}
