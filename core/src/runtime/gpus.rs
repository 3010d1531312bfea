//! GPU inventory of a node, read through NVML (nvml-wrapper).
//!
//! A node without an NVIDIA driver (no `libnvidia-ml.so`, or the driver not loaded)
//! simply has no GPUs: detection never fails, it says why it found none.

use std::ffi::OsStr;

use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;
use serde::{Deserialize, Serialize};

/// One GPU device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDevice {
    /// NVML index (what `CUDA_VISIBLE_DEVICES` refers to).
    pub index: u32,
    /// Model as NVML reports it, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// Device UUID.
    pub uuid: Option<String>,
}

/// The GPUs of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInventory {
    /// The devices found, by index.
    pub devices: Vec<GpuDevice>,
    /// The driver version, when a driver answered.
    pub driver_version: Option<String>,
    /// Why no GPU was found (no driver, no permission, ...), when none was.
    pub note: Option<String>,
}

impl GpuInventory {
    /// Number of devices.
    pub fn count(&self) -> u32 {
        self.devices.len() as u32
    }
}

/// Reads the node's GPUs through the system's NVML library.
pub fn detect() -> GpuInventory {
    inventory(Nvml::init())
}

/// Reads the GPUs through the NVML library at `lib_path` (for unusual installs).
pub fn detect_with_library(lib_path: &OsStr) -> GpuInventory {
    inventory(Nvml::builder().lib_path(lib_path).init())
}

fn inventory(nvml: Result<Nvml, NvmlError>) -> GpuInventory {
    let nvml = match nvml {
        Ok(nvml) => nvml,
        Err(err) => {
            return GpuInventory {
                note: Some(format!("no NVIDIA driver available ({})", why(&err))),
                ..GpuInventory::default()
            };
        }
    };
    let driver_version = nvml.sys_driver_version().ok();
    let count = match nvml.device_count() {
        Ok(count) => count,
        Err(err) => {
            return GpuInventory {
                driver_version,
                note: Some(format!("NVML could not count devices ({})", why(&err))),
                ..GpuInventory::default()
            };
        }
    };
    let mut devices = Vec::new();
    let mut skipped = Vec::new();
    for index in 0..count {
        match describe(&nvml, index) {
            Ok(device) => devices.push(device),
            Err(err) => skipped.push(format!("device {index}: {}", why(&err))),
        }
    }
    let note = match (devices.is_empty(), skipped.is_empty()) {
        (_, false) => Some(format!(
            "unreadable devices skipped: {}",
            skipped.join("; ")
        )),
        (true, true) => Some("the driver reports no GPU".to_string()),
        (false, true) => None,
    };
    GpuInventory {
        devices,
        driver_version,
        note,
    }
}

fn describe(nvml: &Nvml, index: u32) -> Result<GpuDevice, NvmlError> {
    let device = nvml.device_by_index(index)?;
    Ok(GpuDevice {
        index,
        name: device.name()?,
        memory_mib: device.memory_info()?.total / (1024 * 1024),
        uuid: device.uuid().ok(),
    })
}

fn why(err: &NvmlError) -> String {
    match err {
        NvmlError::LibloadingError(_) => "libnvidia-ml could not be loaded".to_string(),
        NvmlError::DriverNotLoaded => "the driver is not loaded".to_string(),
        NvmlError::NoPermission => "no permission to talk to the driver".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_means_zero_gpus_with_a_reason() {
        let inv = detect_with_library(OsStr::new("/nonexistent/libnvidia-ml.so.1"));
        assert_eq!(inv.count(), 0);
        assert!(inv.driver_version.is_none());
        let note = inv.note.unwrap_or_default();
        assert!(note.contains("could not be loaded"), "{note}");
    }

    #[test]
    fn detection_on_this_machine_never_fails() {
        let inv = detect();
        // Either real devices, each described, or none with a reason.
        if inv.devices.is_empty() {
            assert!(inv.note.is_some());
        } else {
            assert!(
                inv.devices
                    .iter()
                    .all(|d| !d.name.is_empty() && d.memory_mib > 0)
            );
        }
    }
}
