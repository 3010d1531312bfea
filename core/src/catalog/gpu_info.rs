//! The `GpuInfo` column: a Python-literal dict written by SkyPilot's fetchers, e.g.
//! `{'Gpus': [{'Name': 'A100', 'Count': 8, 'MemoryInfo': {'SizeInMiB': 40960}}], ...}`.
//!
//! Only the per-GPU memory is needed, so instead of a Python parser this reads the
//! first `'SizeInMiB': <number>` it finds; anything else (a bare name, as RunPod
//! writes, or an empty cell) has no memory information.

/// Per-GPU memory in MiB, when the cell states it.
pub fn gpu_memory_mib(cell: &str) -> Option<u64> {
    let key = "SizeInMiB";
    let at = cell.find(key)?;
    let rest = &cell[at + key.len()..];
    let rest = rest.trim_start_matches(['\'', '"', ':', ' ']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let number: f64 = rest[..end].parse().ok()?;
    (number.is_finite() && number > 0.0).then_some(number as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_memory_of_each_written_form() {
        let aws = "{'Gpus': [{'Name': 'A100', 'Manufacturer': 'NVIDIA', 'Count': 8, \
                   'MemoryInfo': {'SizeInMiB': 40960}}], 'TotalGpuMemoryInMiB': 327680}";
        assert_eq!(gpu_memory_mib(aws), Some(40960));
        let gcp = "{'Gpus': [{'MemoryInfo': {'SizeInMiB': 81920}}]}";
        assert_eq!(gpu_memory_mib(gcp), Some(81920));
        let json_like = r#"{"Gpus": [{"MemoryInfo": {"SizeInMiB": 24576.0}}]}"#;
        assert_eq!(gpu_memory_mib(json_like), Some(24576));
        assert_eq!(gpu_memory_mib("A100-80GB"), None);
        assert_eq!(gpu_memory_mib(""), None);
        assert_eq!(gpu_memory_mib("{'SizeInMiB': 'x'}"), None);
        assert_eq!(gpu_memory_mib("{'SizeInMiB': -5}"), None);
    }
}
