//! The bundled `azure` provider end to end against a fake of Azure Resource
//! Manager (`tests/fakes/azure_api.py`: every request checked against the
//! operations and models of the official `azure-mgmt-compute`,
//! `azure-mgmt-network` and `azure-mgmt-resource` packages; Entra ID's token
//! endpoint and the Retail Prices API beside it), through the `endpoint`
//! override. The service principal is lent from the environment, as Azure's
//! SDKs' `EnvironmentCredential` reads it; the component mints its token at the
//! fake's Entra ID. Each public IP the fake makes is a real `sshd` "machine" on its
//! own loopback address; `ssh_proxy_command` (`tests/ssh_relay.py`) routes port 22
//! of that address to the machine's sshd, and aloft's key reaches the machine only
//! because the fake authorizes the keys of the VM's
//! `osProfile.linuxConfiguration.ssh`. Facts are read back through the SDKs.

use crate::common;

use aloft_tests::azure_fake::AzureFake;
use common::cloud_world::CloudWorld;
use common::text;

/// The service principal's secret only these tests know.
const SECRET: &str = "Azq8Q~ALOFTCLI.secret-NEVER-PRINTED_0123";

type World = CloudWorld<AzureFake>;

/// The fake with `n` machines on 127.0.11.<first..>, aloft's config pointing at
/// it (and the relay routing each machine's port 22 to its sshd), the service
/// principal lent through the environment. No output and no file under aloft's
/// home holds the client secret or a token the fake minted.
fn world(n: u8, first: u8) -> World {
    let mut world = CloudWorld::start("127.0.11", n, first, SECRET, |machines| {
        AzureFake::start(SECRET, machines)
    })
    // Its tokens are minted while the test runs: each check reads them anew.
    .with_fake_secrets(AzureFake::secrets);
    for (name, value) in world.fake.env() {
        world = world.with_env(name, &value);
    }
    // No Azure CLI login of the machine running the tests is read.
    let no_cli = world.home.path().join("no-azure-cli");
    let world = world.with_env("AZURE_CONFIG_DIR", no_cli.to_str().expect("a UTF-8 path"));
    world.write_config_behind_relay("azure", "azureuser", None);
    world
}

#[test]
fn a_two_node_gpu_cluster_lives_its_whole_life_on_azure() {
    let world = world(2, 10);
    world.launch_on_every_machine(
        "az1",
        "{infra: azure/eastus, accelerators: T4:1, ports: 8080}",
    );
    // Each machine opened to the cluster's own key only because its VM carried it.
    let key = world.assert_machines_hold_cluster_key("az1");

    // Read back through the SDKs: one resource group holding the two VMs (the
    // cheapest T4 size, on-demand, the key in their osProfile), their NICs and
    // public IPs, and an NSG opening 22 and 8080.
    let facts = world.fake.sdk(
        "rg = g('az1', 'eastus')\n\
         vms = list(compute.virtual_machines.list(rg, **o))\n\
         nsg = network.network_security_groups.get(rg, 'az1-nsg', **o)\n\
         print(json.dumps(dict(\n\
           groups=sorted(x.name for x in resource.resource_groups.list(**o)),\n\
           vms=sorted([v.name, v.hardware_profile.vm_size, v.location, v.priority or 'Regular'] for v in vms),\n\
           keys=sorted(k.key_data.split()[1][:20] for v in vms for k in v.os_profile.linux_configuration.ssh.public_keys),\n\
           ips=sorted(i.ip_address for i in network.public_ip_addresses.list(rg, **o)),\n\
           nics=len(list(network.network_interfaces.list(rg, **o))),\n\
           ports=sorted(r.destination_port_range for r in nsg.security_rules))))",
    );
    assert_eq!(facts["groups"], serde_json::json!(["aloft-az1-eastus"]));
    assert_eq!(
        facts["vms"],
        serde_json::json!([
            ["az1-head", "Standard_NC4as_T4_v3", "eastus", "Regular"],
            ["az1-worker-1", "Standard_NC4as_T4_v3", "eastus", "Regular"]
        ]),
        "{facts}"
    );
    let key20: String = key
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take(20)
        .collect();
    assert_eq!(facts["keys"], serde_json::json!([key20, key20]));
    assert_eq!(
        facts["ips"],
        serde_json::json!(["127.0.11.10", "127.0.11.11"])
    );
    assert_eq!(facts["nics"], 2);
    assert_eq!(facts["ports"], serde_json::json!(["22", "8080"]));
    // Each VM was given the cluster's own host key (cloud-init in
    // `osProfile.customData`, which ARM never answers back), named in its
    // `aloft-host-key` tag; the machines answer with it, and it was pinned for
    // both nodes before the first connection.
    let public = world.assert_pinned_to_cluster_host_key("az1", 2);
    let tags = world.fake.sdk(
        "rg = g('az1', 'eastus')\n\
         print(json.dumps(sorted([v.tags.get('aloft-host-key'), v.os_profile.custom_data]\n\
         \x20                  for v in compute.virtual_machines.list(rg, **o))))",
    );
    assert_eq!(
        tags,
        serde_json::json!([[public.clone(), null], [public.clone(), null]]),
        "{tags}"
    );
    let given = world.fake.state()["user_data"].clone();
    for vm in ["az1-head", "az1-worker-1"] {
        let user_data = given[vm].as_str().unwrap_or_default();
        assert!(user_data.starts_with("#cloud-config\n"), "{given}");
        assert!(
            user_data.contains(&format!("ed25519_public: {public}")),
            "{given}"
        );
    }
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "azure");

    // Stop deallocates the VMs (awaited through Azure-AsyncOperation); start
    // starts them; the cluster runs again.
    world.ok(&world.aloft(&["stop", "-y", "az1"]));
    let power = || {
        world.fake.sdk(
            "rg = g('az1', 'eastus')\n\
             print(json.dumps(sorted([s.code for s in compute.virtual_machines.instance_view(rg, v.name, **o).statuses if s.code.startswith('PowerState')][0] for v in compute.virtual_machines.list(rg, **o))))",
        )
    };
    assert_eq!(
        power(),
        serde_json::json!(["PowerState/deallocated", "PowerState/deallocated"])
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "az1"]));
    assert_eq!(
        power(),
        serde_json::json!(["PowerState/running", "PowerState/running"])
    );
    world.assert_every_rank_runs_again("az1", 2);

    // Down deletes the resource group, awaited through its Location header:
    // nothing is left.
    world.ok(&world.aloft(&["down", "-y", "az1"]));
    assert!(world.fake.groups().is_empty());
    assert_eq!(world.status_json(), serde_json::json!([]));
    world.fake.assert_requests_include(&[
        "TOKEN",
        "PUT /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}",
        "PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}",
        "PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}",
        "POST /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}/deallocate",
        "POST /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}/start",
        "DELETE /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}",
        "GET operation",
    ]);
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn sku_not_available_and_a_failed_allocation_fail_over_to_the_next_region_saying_why() {
    let world = world(3, 30);
    // eastus refuses the size at once (409 SkuNotAvailable); in westus2 the VM's
    // create operation fails (ZonalAllocationFailed in its Azure-AsyncOperation
    // status); westus3 has room.
    world.fake.control(
        "capacity",
        serde_json::json!({"size": "Standard_D2s_v5", "region": "eastus", "code": "SkuNotAvailable"}),
    );
    world.fake.control(
        "capacity",
        serde_json::json!({"size": "Standard_D2s_v5", "region": "westus2", "code": "ZonalAllocationFailed"}),
    );
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: azure/eastus, instance_type: Standard_D2s_v5}\n    \
         - {infra: azure/westus2, instance_type: Standard_D2s_v5}\n    \
         - {infra: azure/westus3, instance_type: Standard_D2s_v5}\nrun: echo landed\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "fo", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(
        said.contains("is currently not available in location 'eastus'"),
        "{said}"
    );
    assert!(
        said.contains("We do not have sufficient capacity for the requested VM size"),
        "{said}"
    );
    // The VM is in westus3; the groups the failed tries made went with them.
    let facts = world.fake.sdk(
        "print(json.dumps(dict(groups=sorted(x.name for x in resource.resource_groups.list(**o)),\n\
           vms=[v.location for v in compute.virtual_machines.list(g('fo', 'westus3'), **o)])))",
    );
    assert_eq!(
        facts,
        serde_json::json!({"groups": ["aloft-fo-westus3"], "vms": ["westus3"]})
    );
    world.ok(&world.aloft(&["down", "-y", "fo"]));
    assert!(world.fake.groups().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn the_azure_provider_passes_the_conformance_kit_and_check_names_its_principal() {
    let world = world(3, 40);
    // `aloft check` names the service principal, its tenant and subscription.
    let said = world.ok(&world.aloft(&["check", "-v"]));
    let line = said
        .lines()
        .find(|l| l.contains("azure: enabled"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!(
            "service principal {} in subscription {}",
            aloft_tests::azure_fake::CLIENT_ID,
            aloft_tests::azure_fake::SUBSCRIPTION
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("tenant: {}", aloft_tests::azure_fake::TENANT)),
        "{said}"
    );
    // Without the variables, the Azure CLI's cached service-principal login
    // (`az login --service-principal`) lends the same principal.
    // (Outside aloft's home, which the test scans for the secret.)
    let cli_dir = tempfile::tempdir().unwrap();
    let cli = cli_dir.path();
    std::fs::write(
        cli.join("azureProfile.json"),
        format!(
            "\u{feff}{}",
            serde_json::json!({"installationId": "i", "subscriptions": [{
                "id": aloft_tests::azure_fake::SUBSCRIPTION, "name": "Pay-As-You-Go",
                "state": "Enabled", "isDefault": true,
                "tenantId": aloft_tests::azure_fake::TENANT, "environmentName": "AzureCloud",
                "user": {"name": aloft_tests::azure_fake::CLIENT_ID, "type": "servicePrincipal"}}]})
        ),
    )
    .unwrap();
    std::fs::write(
        cli.join("service_principal_entries.json"),
        serde_json::json!([{"client_id": aloft_tests::azure_fake::CLIENT_ID,
            "tenant": aloft_tests::azure_fake::TENANT, "client_secret": SECRET}])
        .to_string(),
    )
    .unwrap();
    let mut check = world.command(&["check", "-v", "azure"]);
    for (name, _) in world.fake.env() {
        check.env_remove(name);
    }
    let out = check.env("AZURE_CONFIG_DIR", cli).output().unwrap();
    let said = world.ok(&out);
    assert!(
        said.contains(&format!(
            "azure: enabled (service principal {}",
            aloft_tests::azure_fake::CLIENT_ID
        )),
        "{said}"
    );

    let checks = world.conformance_kit("azure", "westus2", "Standard_D2s_v5");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "{checks:?}"
    );
    assert!(world.fake.groups().is_empty(), "the kit left nothing");

    // A secret Entra ID refuses: Azure is skipped with Entra ID's reason.
    let wrong = "Azq8Q~WRONG.secret-REFUSED-9876";
    let task = world.task(
        "t.yaml",
        "resources: {infra: azure/eastus, instance_type: Standard_D2s_v5}\nrun: echo hi\n",
    );
    let out = world
        .command(&["launch", "-y", "-c", "bad", task.to_str().unwrap()])
        .env("AZURE_CLIENT_SECRET", wrong)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("AADSTS7000215"), "{said}");
    assert!(!said.contains(wrong) && !said.contains(SECRET));
    assert!(world.fake.groups().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
    common::assert_secret_in_no_file(world.home.path(), wrong);
}

#[test]
fn a_spot_vm_evicted_behind_aloft_reads_as_preempted_and_throttling_is_waited_out() {
    let world = world(1, 50);
    // ARM answers the next two requests 429 with Retry-After: the provider waits.
    world
        .fake
        .control("throttle", serde_json::json!({"count": 2}));
    let task = world.task(
        "spot.yaml",
        "resources: {infra: azure/westus2, instance_type: Standard_D2s_v5, use_spot: true}\n\
         run: echo spot-up\n",
    );
    let stdout = world.ok(&world.aloft(&["launch", "-y", "-c", "sp", task.to_str().unwrap()]));
    assert!(stdout.contains("spot-up"), "{stdout}");
    let requests = world.fake.state()["requests"].clone();
    let throttled = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "THROTTLED")
        .count();
    assert_eq!(throttled, 2, "{requests}");
    let vm = world.fake.sdk(
        "v = compute.virtual_machines.get(g('sp', 'westus2'), 'sp-head', **o)\n\
         print(json.dumps([v.priority, v.eviction_policy, v.billing_profile.max_price]))",
    );
    assert_eq!(vm, serde_json::json!(["Spot", "Deallocate", -1.0]));
    // Azure evicts the VM (deallocates it): `status -r` says preempted.
    world
        .fake
        .control("evict", serde_json::json!({"vm": "sp-head"}));
    let out = world.aloft(&["status", "-r"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("PREEMPTED"), "{said}");
    world.ok(&world.aloft(&["down", "-y", "sp"]));
    assert!(world.fake.groups().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn a_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = world(1, 60);
    let task = world.task(
        "one.yaml",
        "resources: {infra: azure/eastus, instance_type: Standard_D2s_v5, ports: 8080}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    // Points across the launch: the plan, the group and network, the IP and NIC,
    // the VM's create, the wait for SSH, the set-up.
    for (i, delay_ms) in [300u64, 900, 1500, 2300, 3300].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.groups().is_empty(),
            "killed after {delay_ms} ms: a resource group was left"
        );
    }
    // Some kills fell after a group was made.
    world.fake.assert_requests_include(&[
        "DELETE /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}",
    ]);
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn a_managed_spot_job_evicted_on_azure_is_relaunched_in_the_next_region() {
    let world = world(2, 70);
    let status = |j: &serde_json::Value| j["status"].as_str().unwrap_or("").to_string();
    let region = |j: &serde_json::Value| j["location"]["region"].as_str().unwrap_or("").to_string();
    // The first run waits to be evicted; the relaunched one ends at once.
    let mark = world.home.path().join("first-run");
    let task = world.task(
        "spot.yaml",
        &format!(
            "name: train\n\
             resources: {{infra: azure, instance_type: Standard_D2s_v5, use_spot: true}}\n\
             run: |\n  \
               if [ -f {mark} ]; then echo relaunched; exit 0; fi\n  \
               touch {mark}\n  \
               sleep 30\n",
            mark = mark.display()
        ),
    );
    let out = world
        .command(&["jobs", "launch", "-d", "-y", task.to_str().unwrap()])
        .envs(common::cloud_world::FAST_JOBS)
        .output()
        .unwrap();
    let id = world.ok(&out).trim().to_string();
    let first =
        world.wait_for_managed_job(&id, "RUNNING", &|j| status(j) == "RUNNING" && mark.exists());
    // The cheapest spot price first: eastus.
    assert_eq!(region(&first), "eastus", "{first}");
    let cluster = first["cluster_name"].as_str().unwrap().to_string();
    world.fake.control(
        "evict",
        serde_json::json!({"vm": format!("{cluster}-head")}),
    );
    let done = world.wait_for_managed_job(&id, "the end", &|j| {
        !matches!(
            status(j).as_str(),
            "PENDING" | "STARTING" | "RUNNING" | "RECOVERING" | "CANCELLING" | ""
        )
    });
    assert_eq!(
        status(&done),
        "SUCCEEDED",
        "{done}\n{}",
        world.controller_log()
    );
    assert_eq!(done["recovery_count"], 1, "{done}");
    // EAGER_NEXT_REGION: the region just lost is blocked; the next cheapest.
    assert_eq!(region(&done), "westus3", "{done}");
    // The controller tears the clusters down: no resource group is left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !world.fake.groups().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left: {:?}\n{}",
            world.fake.groups(),
            world.controller_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}
