//! The host finds Google's credentials where Google's tools put them and lends them
//! to the `gcp` component: the key file named by `GOOGLE_APPLICATION_CREDENTIALS`,
//! else the application-default credentials under `CLOUDSDK_CONFIG`. One test in
//! its own binary, because it sets environment variables.

use aloft::plugin::{HostConfig, PluginHost};
use aloft_tests::components::provider;
use aloft_tests::gcp_fake::{FakeOptions, GcpFake, PROJECT};

#[test]
fn the_host_lends_the_key_file_else_the_adc_file() {
    let fake = GcpFake::start(FakeOptions::default());
    let home = tempfile::tempdir().unwrap();
    let gcloud = tempfile::tempdir().unwrap();
    std::fs::write(
        gcloud.path().join("application_default_credentials.json"),
        fake.authorized_user_json(),
    )
    .unwrap();
    // SAFETY: the only test of this binary; set before any thread reads them.
    unsafe {
        std::env::remove_var("GCP_CREDENTIALS_JSON");
        std::env::set_var(
            "GOOGLE_APPLICATION_CREDENTIALS",
            fake.service_account_path(),
        );
        std::env::set_var("CLOUDSDK_CONFIG", gcloud.path());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wasm = provider("gcp");
    rt.block_on(async {
        let mut config = HostConfig::new(home.path());
        config.endpoints.insert("gcp".into(), fake.endpoint());
        config
            .settings
            .insert("gcp".into(), vec![("project".into(), PROJECT.into())]);
        let mut host = PluginHost::new(config).unwrap();
        host.load_bytes("gcp", &wasm).await.unwrap();
        let mut gcp = host.instance("gcp").await.unwrap();
        let identity = gcp.check_credentials().await.unwrap();
        assert!(
            identity
                .details
                .iter()
                .any(|(k, v)| k == "principal" && v.ends_with("iam.gserviceaccount.com")),
            "the key file first: {identity:?}"
        );
        unsafe { std::env::remove_var("GOOGLE_APPLICATION_CREDENTIALS") };
        let mut gcp = host.instance("gcp").await.unwrap();
        let identity = gcp.check_credentials().await.unwrap();
        assert!(
            identity
                .details
                .iter()
                .any(|(k, v)| k == "principal" && v == "application-default user"),
            "then the ADC file: {identity:?}"
        );
    });
    let state = fake.control("state", serde_json::json!({}));
    assert_eq!(
        state["grants"],
        serde_json::json!([
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "refresh_token"
        ])
    );
    unsafe { std::env::remove_var("CLOUDSDK_CONFIG") };
}
