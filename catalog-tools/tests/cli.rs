//! `aloft-catalog` on real files.

use std::process::Command;

fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn validate_reports_the_embedded_snapshot_and_names_a_bad_line() {
    let out = run(&["validate".as_ref()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cloud in ["aws", "gcp", "lambda", "nebius", "runpod"] {
        assert!(text.contains(cloud), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lambda")).unwrap();
    std::fs::write(
        dir.path().join("lambda/vms.csv"),
        "InstanceType,Region,Price\nok,r,1\nbad,r,oops\n",
    )
    .unwrap();
    let out = run(&["validate".as_ref(), dir.path().as_os_str()]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("lambda/vms.csv:3: Price `oops`"), "{err}");
}

#[test]
fn diff_shows_price_changes_and_new_offers() {
    let old = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    let header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice\n";
    std::fs::create_dir_all(old.path().join("toy")).unwrap();
    std::fs::create_dir_all(new.path().join("toy")).unwrap();
    std::fs::write(
        old.path().join("toy/vms.csv"),
        format!("{header}a,,,2,8,1.0,r1,,\nb,,,2,8,2.0,r1,,\n"),
    )
    .unwrap();
    std::fs::write(
        new.path().join("toy/vms.csv"),
        format!("{header}a,,,2,8,1.5,r1,,\nc,,,2,8,3.0,r1,,\n"),
    )
    .unwrap();
    let out = run(&[
        "diff".as_ref(),
        old.path().as_os_str(),
        new.path().as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("~ toy a r1 $1.0000 -> $1.5000"), "{text}");
    assert!(text.contains("+ toy c r1 $3.0000"), "{text}");
    assert!(text.contains("- toy b r1"), "{text}");
    assert!(text.contains("1 added, 1 removed, 1 changed"), "{text}");
}
