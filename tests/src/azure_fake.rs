//! The fake of Azure Resource Manager (`tests/fakes/azure_api.py`, run by the
//! repository's `.venv` Python, which has `azure-mgmt-compute`,
//! `azure-mgmt-network` and `azure-mgmt-resource`: the fake checks every request
//! against those SDKs' operations and models) as a real HTTP server on a free
//! 127.0.0.1 port, with Entra ID's token endpoint and the Retail Prices API on
//! the same port (told apart by `Host`). Its public IPs take the addresses of
//! "machines" the test started (real `sshd`s on loopback, see [`crate::sshd`]),
//! and a VM's SSH public keys are authorized on its machine. Facts are read back
//! through the official SDK clients ([`AzureFake::sdk`]). Its controls, state
//! and raw requests are [`PythonFake`]'s (through `Deref`): its `/_fake/` paths
//! are answered before the `Host`-based routing.

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// The test service principal: tenant, client id, subscription (the secret is
/// the test's own).
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The service principal's application id.
pub const CLIENT_ID: &str = "0f7c1a5e-3b1d-4c55-9a8e-6d2b4e9f1a23";
/// The subscription.
pub const SUBSCRIPTION: &str = "9b4e1c2d-7a8f-4e3b-b5c6-1d2e3f4a5b6c";

/// A running fake of Azure Resource Manager ([`PythonFake`]'s controls and
/// state through `Deref`).
pub struct AzureFake {
    fake: PythonFake,
    secret: String,
}

impl AzureFake {
    /// Starts the fake knowing one service principal whose secret is `secret`;
    /// public IPs take `machines` in order.
    pub fn start(secret: &str, machines: &[&Sshd]) -> AzureFake {
        let fake = PythonFake::start(
            "azure_api.py",
            &[
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                secret,
                "--subscription",
                SUBSCRIPTION,
                "--machines",
                &machines_arg(machines),
            ],
        );
        AzureFake {
            fake,
            secret: secret.to_string(),
        }
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
        let prelude = format!(
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
             o = dict(enforce_https=False)",
            cid = CLIENT_ID,
            secret = self.secret,
            endpoint = self.endpoint(),
            tenant = TENANT,
            sub = SUBSCRIPTION,
        );
        self.fake.python(&prelude, script)
    }

    /// The names of the subscription's resource groups, through the SDK.
    pub fn groups(&self) -> Vec<String> {
        let list = self
            .sdk("print(json.dumps(sorted(x.name for x in resource.resource_groups.list(**o))))");
        serde_json::from_value(list).unwrap()
    }

    /// The client secret and every token the fake minted.
    pub fn secrets(&self) -> Vec<String> {
        let answer = self.request("GET", "/_fake/secrets", &[], "").1;
        serde_json::from_value(answer["secrets"].clone()).unwrap_or_default()
    }
}

/// The fake's `GET /_fake/state` holds `groups` (with their resources),
/// `requests` (`METHOD /path-template` of every request; `INVALID ...` for those
/// the SDKs' operations and models refused) and `machines_used`.
impl std::ops::Deref for AzureFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
