//! The fake of Azure Resource Manager (`tests/fakes/azure_api.py`, run by the
//! repository's `.venv` Python, which has `azure-mgmt-compute`,
//! `azure-mgmt-network` and `azure-mgmt-resource`: the fake checks every request
//! against those SDKs' operations and models) as a real HTTP server on a free
//! 127.0.0.1 port, with Entra ID's token endpoint and the Retail Prices API on
//! the same port (told apart by `Host`). Its public IPs take the addresses of
//! "machines" the test started (real `sshd`s on loopback, see [`crate::sshd`]),
//! and a VM's SSH public keys are authorized on its machine. Facts are read back
//! through the official SDK clients ([`AzureFake::sdk`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::sshd::Sshd;

/// The test service principal: tenant, client id, subscription (the secret is
/// the test's own).
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The service principal's application id.
pub const CLIENT_ID: &str = "0f7c1a5e-3b1d-4c55-9a8e-6d2b4e9f1a23";
/// The subscription.
pub const SUBSCRIPTION: &str = "9b4e1c2d-7a8f-4e3b-b5c6-1d2e3f4a5b6c";

/// A running fake of Azure Resource Manager.
pub struct AzureFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    secret: String,
    child: Child,
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = root.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh once (it makes the venv with the Azure SDKs)",
        venv.display()
    );
    venv
}

impl AzureFake {
    /// Starts the fake knowing one service principal whose secret is `secret`;
    /// public IPs take `machines` in order.
    pub fn start(secret: &str, machines: &[&Sshd]) -> AzureFake {
        let spec: Vec<String> = machines
            .iter()
            .map(|m| {
                format!(
                    "{}:{}:{}",
                    m.ip,
                    m.port,
                    m.dir.join("authorized_keys").display()
                )
            })
            .collect();
        let (child, port) = crate::fakes::spawn_reporting_port(
            Command::new(python())
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/azure_api.py"))
                .args(["--tenant", TENANT, "--client-id", CLIENT_ID])
                .args(["--client-secret", secret, "--subscription", SUBSCRIPTION])
                .args(["--machines", &spec.join(",")]),
            "tests/fakes/azure_api.py with the .venv python",
        );
        AzureFake {
            port,
            secret: secret.to_string(),
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a service principal is lent through (as Azure's SDKs'
    /// `EnvironmentCredential` reads it).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
            ("AZURE_CLIENT_SECRET", self.secret.clone()),
            ("AZURE_TENANT_ID", TENANT.to_string()),
            ("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION.to_string()),
        ]
    }

    /// Runs `script` with `compute`, `network` and `resource`, the official
    /// management clients on the fake (a token minted at its Entra ID endpoint
    /// with the service principal), `g` the resource group of cluster `c` in
    /// region `r` as aloft names it (`g(c, r)`), and `o`, the options every call
    /// needs (`enforce_https=False`: the fake is plain HTTP); its stdout parsed
    /// as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let program = format!(
            "import json, time, urllib.request, urllib.parse\n\
             from azure.core.credentials import AccessToken\n\
             from azure.mgmt.compute import ComputeManagementClient\n\
             from azure.mgmt.network import NetworkManagementClient\n\
             from azure.mgmt.resource.resources import ResourceManagementClient\n\
             class Cred:\n\
             \x20   def get_token(self, *scopes, **kw):\n\
             \x20       form = urllib.parse.urlencode(dict(grant_type='client_credentials', client_id={cid:?}, client_secret={secret:?}, scope='https://management.azure.com/.default')).encode()\n\
             \x20       req = urllib.request.Request({endpoint:?} + '/{tenant}/oauth2/v2.0/token', data=form, headers={{'Host': 'login.microsoftonline.com'}})\n\
             \x20       tok = json.load(urllib.request.urlopen(req))\n\
             \x20       return AccessToken(tok['access_token'], int(time.time()) + 3000)\n\
             \x20   def get_token_info(self, *scopes, **kw):\n\
             \x20       t = self.get_token(*scopes)\n\
             \x20       from azure.core.credentials import AccessTokenInfo\n\
             \x20       return AccessTokenInfo(t.token, t.expires_on)\n\
             kw = dict(base_url={endpoint:?}, credential_scopes=['https://management.azure.com/.default'])\n\
             compute = ComputeManagementClient(Cred(), {sub:?}, **kw)\n\
             network = NetworkManagementClient(Cred(), {sub:?}, **kw)\n\
             resource = ResourceManagementClient(Cred(), {sub:?}, **kw)\n\
             g = lambda c, r: f'aloft-{{c}}-{{r}}'\n\
             o = dict(enforce_https=False)\n{script}\n",
            cid = CLIENT_ID,
            secret = self.secret,
            endpoint = self.endpoint(),
            tenant = TENANT,
            sub = SUBSCRIPTION,
        );
        let out = Command::new(python())
            .args(["-c", &program])
            .stderr(Stdio::inherit())
            .output()
            .expect("run the Azure SDK");
        assert!(out.status.success(), "Azure SDK script failed: {script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the SDK script printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The names of the subscription's resource groups, through the SDK.
    pub fn groups(&self) -> Vec<String> {
        let list = self
            .sdk("print(json.dumps(sorted(x.name for x in resource.resource_groups.list(**o))))");
        serde_json::from_value(list).unwrap()
    }

    /// A test control (`POST /_fake/<what>`), see the fake's docstring.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let body = body.to_string();
        let (status, answer) = http(
            self.port,
            &format!(
                "POST /_fake/{what} HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows: `groups` (with their resources), `requests`
    /// (`METHOD /path-template` of every request; `INVALID ...` for those the
    /// SDKs' operations and models refused) and `machines_used`.
    pub fn state(&self) -> serde_json::Value {
        http(
            self.port,
            "GET /_fake/state HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n\r\n",
        )
        .1
    }

    /// The client secret and every token the fake minted.
    pub fn secrets(&self) -> Vec<String> {
        let answer = http(
            self.port,
            "GET /_fake/secrets HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n\r\n",
        )
        .1;
        serde_json::from_value(answer["secrets"].clone()).unwrap_or_default()
    }

    /// The requests the fake refused as not matching the SDKs.
    pub fn invalid_requests(&self) -> Vec<String> {
        self.state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .filter(|r| r.starts_with("INVALID"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for AzureFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 exchange with 127.0.0.1:`port` (`Connection: close`).
fn http(port: u16, request: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the fake");
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let mut reader = BufReader::new(&mut stream);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    raw.resize(length, 0);
    reader.read_exact(&mut raw).expect("read the answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
    )
}
