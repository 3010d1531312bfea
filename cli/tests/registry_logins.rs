//! Registry logins aloft mints for container images in a cloud's registry
//! (`Client::registry_login`): Amazon ECR's `GetAuthorizationToken` against moto
//! (compared with what boto3 gets from the same server), Google's registries with
//! an access token from the GCS fake's token endpoint (one the fake issued).
//! Each test runs in its own process (nextest), so setting its credentials in
//! the environment reaches no other test.

use aloft::Client;
use aloft_tests::gcs_fake::GcsFake;
use aloft_tests::moto::Moto;

fn client(config: &str) -> (tempfile::TempDir, Client) {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.yaml"), config).unwrap();
    let client = Client::builder().home(home.path()).open().unwrap();
    (home, client)
}

#[test]
fn an_ecr_image_gets_the_login_ecr_mints_and_no_credentials_is_a_clear_error() {
    let moto = Moto::start();
    let (_home, client) = client(&format!(
        "providers:\n  aws:\n    endpoint: {}\n",
        moto.endpoint()
    ));
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/train:v3";
    // SAFETY: set before any other thread of this test process reads them.
    unsafe {
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
        std::env::remove_var("AWS_ACCESS_KEY_ID");
        std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    }
    let err = client.registry_login(image).unwrap_err().to_string();
    assert!(
        err.contains("Amazon ECR") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );

    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAMOTOTEST");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "moto-test-secret");
    }
    let login = client
        .registry_login(image)
        .unwrap()
        .expect("an ECR image gets a login");
    // The same server, asked by boto3 in the same region: the same login.
    let boto = moto.boto(
        "import base64\n\
         ecr = boto3.client('ecr', endpoint_url=ec2.meta.endpoint_url, region_name='eu-west-1', \
         aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
         d = ecr.get_authorization_token()['authorizationData'][0]\n\
         print(json.dumps(base64.b64decode(d['authorizationToken']).decode().split(':', 1)))",
    );
    assert_eq!(boto, serde_json::json!([login.user, login.password]));
    assert_eq!(login.server, "123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    // The token never shows in the login's debug form.
    assert!(!format!("{login:?}").contains(&login.password));
    // Images elsewhere get none, and need no credentials.
    for other in ["ubuntu:22.04", "ghcr.io/org/img:1", "127.0.0.1:5000/img"] {
        assert!(client.registry_login(other).unwrap().is_none(), "{other}");
    }
}

#[test]
fn an_artifact_registry_image_gets_an_access_token_of_the_users_google_credentials() {
    let fake = GcsFake::start(10);
    let (_home, client) = client(&format!(
        "storage:\n  gcs:\n    endpoint: {}\n",
        fake.endpoint()
    ));
    // SAFETY: set before any other thread of this test process reads them.
    unsafe {
        std::env::set_var(
            "GOOGLE_APPLICATION_CREDENTIALS",
            fake.service_account_path(),
        );
        std::env::remove_var("GCP_CREDENTIALS_JSON");
    }
    let login = client
        .registry_login("us-central1-docker.pkg.dev/proj/repo/img:1")
        .unwrap()
        .expect("an Artifact Registry image gets a login");
    assert_eq!(login.user, "oauth2accesstoken");
    assert_eq!(login.server, "us-central1-docker.pkg.dev");
    assert!(
        fake.secrets().contains(&login.password),
        "the password is a token the fake's token endpoint issued"
    );
}
