//! The `aws` provider component passes the conformance kit against moto, the AWS
//! emulator, and answers a typed `capacity` error when EC2 says
//! InsufficientInstanceCapacity (injected by a proxy in front of moto).

use std::sync::Arc;

use aloft::plugin::{CredentialSource, HostConfig, PluginHost};
use aloft_tests::components::provider;
use aloft_tests::conformance::{ConformanceOptions, expect_capacity_error, run_lifecycle};
use aloft_tests::fault_proxy::{FaultProxy, ec2_error};
use aloft_tests::moto::Moto;

/// Test keys lent to the provider (moto accepts any).
struct TestKeys;

impl CredentialSource for TestKeys {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIACONFORMANCE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("conformance-secret".into()),
            _ => None,
        }
    }
}

fn host_config(home: &std::path::Path, port: u16) -> HostConfig {
    let mut config = HostConfig::new(home);
    config.credentials = Arc::new(TestKeys);
    config
        .endpoints
        .insert("aws".into(), format!("http://127.0.0.1:{port}"));
    config
}

fn options(cluster: &str, zone: &str) -> ConformanceOptions {
    ConformanceOptions {
        cluster: cluster.into(),
        region: "us-east-1".into(),
        zone: Some(zone.into()),
        instance_type: "m6i.large".into(),
    }
}

#[test]
fn aws_passes_the_conformance_kit_against_moto() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(
        moto.port,
        Box::new(|body: &str| {
            (body.contains("Action=RunInstances") && body.contains("us-east-1c")).then(|| {
                (
                    500,
                    ec2_error("InsufficientInstanceCapacity", "no m6i.large in us-east-1c"),
                )
            })
        }),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut host = PluginHost::new(host_config(home.path(), proxy.port)).unwrap();
        host.load_bytes("aws", &provider("aws")).await.unwrap();
        let mut aws = host.instance("aws").await.unwrap();
        let identity = aws.check_credentials().await.unwrap();
        assert_eq!(identity.account, "123456789012", "moto's account");
        // Zone ids (as catalogs name zones) and zone names both work.
        run_lifecycle(&mut aws, &options("conf-a", "use1-az1"))
            .await
            .unwrap();
        run_lifecycle(&mut aws, &options("conf-b", "us-east-1b"))
            .await
            .unwrap();
        expect_capacity_error(&mut aws, &options("conf-c", "us-east-1c"))
            .await
            .unwrap();
        // Batched query: one call answers for several clusters, unknown ones empty.
        let refs: Vec<_> = ["conf-a", "nope"]
            .iter()
            .map(|c| aloft::plugin::ClusterRef {
                cluster: c.to_string(),
                region: "us-east-1".into(),
                zone: None,
            })
            .collect();
        let found = aws.query_instances(&refs).await.unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|c| c.instances.is_empty()), "{found:?}");
    });
    assert_eq!(proxy.faulted.lock().unwrap().len(), 1);
}
