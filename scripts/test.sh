#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then runs them.
# Called by .ci/run and by developers alike (README: "Run the tests").
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean CI checkout builds everything once: incremental caches only cost time there.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

# Each step says when it began, so a slow CI run shows where its time went.
log() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

log "toolchain (pinned in rust-toolchain.toml) and the wasm32-wasip2 target for providers"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target add wasm32-wasip2

log "system packages the tests use: sshd (real SSH nodes), rsync, pgrep/pkill (procps), openssl and curl (TLS test certificates, an HTTPS client)"
if ! command -v /usr/sbin/sshd >/dev/null || ! command -v rsync >/dev/null \
  || ! command -v pgrep >/dev/null || ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client rsync procps openssl curl >/dev/null
  else
    echo "openssh-server, rsync, procps, openssl and curl are needed: sudo apt-get install -y openssh-server rsync procps openssl curl" >&2
    exit 1
  fi
fi

log "moto[server] (the AWS emulator the aws provider is tested against) in .venv"
if [ ! -x .venv/bin/moto_server ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv
    else
      echo "python3-venv is needed: sudo apt-get install -y python3-venv" >&2
      exit 1
    fi
  fi
  .venv/bin/pip install -q 'moto[server]==5.2.5'
fi
# The gcp provider's fake checks requests against the discovery document shipped in
# google-api-python-client; tests read it back with google-cloud-compute.
if ! .venv/bin/python -c 'import googleapiclient, google.cloud.compute_v1' 2>/dev/null; then
  .venv/bin/pip install -q 'google-api-python-client==2.202.0' 'google-cloud-compute==1.57.0'
fi
# The GCS fake checks requests against storage.v1's discovery document (same package);
# tests read buckets back with google-cloud-storage.
if ! .venv/bin/python -c 'import google.cloud.storage' 2>/dev/null; then
  .venv/bin/pip install -q 'google-cloud-storage==3.17.1'
fi
# The kubernetes provider's test API server validates objects with kubernetes-validate;
# tests read facts back with the official client. Later kubernetes releases pull a
# python-dateutil that breaks moto's botocore: keep these pins together.
if ! .venv/bin/python -c 'import kubernetes, kubernetes_validate' 2>/dev/null; then
  .venv/bin/pip install -q 'kubernetes==33.1.0' 'kubernetes-validate==1.37.0' 'python-dateutil==2.9.0.post0'
fi
# The runpod provider's fake validates every query against RunPod's schema (graphql-core).
if ! .venv/bin/python -c 'import graphql' 2>/dev/null; then
  .venv/bin/pip install -q 'graphql-core==3.3.2'
fi
# The digitalocean provider's fake checks every request against the operations of
# pydo (DigitalOcean's OpenAPI-generated client); tests read facts back with it.
if ! .venv/bin/python -c 'import pydo' 2>/dev/null; then
  .venv/bin/pip install -q 'pydo==0.44.0'
fi
# The azure provider's fake checks every request against the operations and models of
# Azure's official management SDKs (routes, api-versions, bodies); tests read facts
# back with them. Only these three and their small dependencies (azure-core,
# azure-mgmt-core, isodate), no azure-identity.
if ! .venv/bin/python -c 'import azure.mgmt.compute, azure.mgmt.network, azure.mgmt.resource.resources' 2>/dev/null; then
  .venv/bin/pip install -q 'azure-mgmt-compute==39.0.0' 'azure-mgmt-network==33.1.0' 'azure-mgmt-resource==26.0.0'
fi
# The oci provider's fake checks every request against the operations and models of
# `oci` (OCI's official Python SDK) and verifies its signature; tests read facts back
# with it. Older oci releases pin cryptography below what vastai needs: keep 2.189+.
if ! .venv/bin/python -c 'import oci' 2>/dev/null; then
  .venv/bin/pip install -q 'oci==2.189.0'
fi
# The vastai provider's fake checks every request against what Vast.ai's official
# package sends (vastai-sdk, which installs `vastai`); tests read facts back with it.
if ! .venv/bin/python -c 'import vastai_sdk' 2>/dev/null; then
  .venv/bin/pip install -q 'vastai-sdk==1.9.1' 'vastai==1.9.1'
fi
# The cudo provider's fake checks every request against the operations and models of
# `cudo-compute` (Cudo's OpenAPI-generated package); tests read facts back with it.
if ! .venv/bin/python -c 'import cudo_compute' 2>/dev/null; then
  .venv/bin/pip install -q 'cudo-compute==0.3.6'
fi
# The fluidstack provider's fake checks every request against the routes and
# pydantic types of `fluidstack` (Fluidstack's Fern-generated package, module
# FluidStack); tests read facts back with its client.
if ! .venv/bin/python -c 'import FluidStack' 2>/dev/null; then
  .venv/bin/pip install -q 'fluidstack==0.0.8'
fi
# The nebius provider's fake serves, with grpcio, the gRPC services and protobuf
# messages of `nebius` (Nebius's official SDK: its registered file descriptors)
# and refuses any request that does not parse as them.
if ! .venv/bin/python -c 'import nebius.api.nebius.compute.v1, grpc' 2>/dev/null; then
  .venv/bin/pip install -q 'nebius==0.6.29'
fi
# The primeintellect provider's fake checks every request against what Prime
# Intellect's official package `prime` (module prime_cli) sends and reads; tests
# read facts back with its client.
if ! .venv/bin/python -c 'import prime_cli' 2>/dev/null; then
  .venv/bin/pip install -q 'prime==0.18.0'
fi
# The Azure Blob tests read containers back with azure-storage-blob (Microsoft's client).
if ! .venv/bin/python -c 'import azure.storage.blob' 2>/dev/null; then
  .venv/bin/pip install -q 'azure-storage-blob==12.27.1'
fi
# Each test starts its own moto_server on a free loopback port (tests/src/moto.rs).

log "Azurite (Microsoft's Azure Storage emulator, from npm) in .npm-tools: each Azure Blob test starts its own"
# Pinned; about 12 s from the npm registry, skipped when present. Needs Node.js 18+ and npm.
if ! grep -qs '"version": "3.35.0"' .npm-tools/node_modules/azurite/package.json; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "Node.js and npm are needed for Azurite: sudo apt-get install -y nodejs npm" >&2
      exit 1
    fi
  fi
  npm install --prefix .npm-tools --no-audit --no-fund --silent 'azurite@3.35.0'
fi

log "the small static node agents (x86_64, aarch64; zig from PyPI for their C parts)"
# The tests need the agents' behaviour, not their release size: the same code
# without whole-program LTO and single-unit codegen builds in far less time.
CARGO_PROFILE_AGENT_LTO=false CARGO_PROFILE_AGENT_CODEGEN_UNITS=16 ./scripts/build-agents.sh

log "format"
cargo fmt --all -- --check

log "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The CLI and the embedding example are built on aloft's public API alone: without the
# `internals` feature (which only the node agent and the tests turn on), the internal
# modules are private, so a use of them here fails the build.
cargo clippy -p aloft-cli --bins -p aloft-example-embed --locked -- -D warnings

log "Docker Engine for container-image tasks (docker.io), busybox-static (the tests' images), docker-registry and apache2-utils (htpasswd: a private registry on loopback)"
if ! command -v dockerd >/dev/null || [ ! -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1 \
  || ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null \
  || ! dpkg -s busybox-static >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static docker-registry apache2-utils >/dev/null
  else
    echo "note: docker.io, busybox-static, docker-registry and apache2-utils are missing (sudo apt-get install -y them): the container tests will say they are skipped" >&2
  fi
fi
# The tests' own daemon, unless one answers already: no bridge network and no
# iptables rules (containers use the host's network only), stopped when this script
# ends. Tests reach it through DOCKER_HOST (an SSH test machine passes it on).
if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null && ! docker version >/dev/null 2>&1; then
  dockerd_dir="$(mktemp -d /tmp/aloft-dockerd.XXXXXX)"
  dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$dockerd_dir/data" \
    --exec-root "$dockerd_dir/x" --pidfile "$dockerd_dir/pid" -H "unix://$dockerd_dir/d.sock" \
    >"$dockerd_dir/log" 2>&1 &
  dockerd_pid=$!
  stop_dockerd() {
    # Under `set -e`, one failing step would end the trap: each may fail.
    docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    # What the daemon leaves mounted (its network namespace file) goes first.
    awk -v d="$dockerd_dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r \
      | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dockerd_dir" || true
  }
  trap stop_dockerd EXIT
  export DOCKER_HOST="unix://$dockerd_dir/d.sock"
  for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.3; done
  docker version --format 'dockerd {{.Server.Version}} on '"$DOCKER_HOST" || { tail -n 20 "$dockerd_dir/log"; exit 1; }
fi

log "rclone and fuse3 (MOUNT and MOUNT_CACHED buckets: the local nodes mount moto's S3 with rclone over FUSE)"
# Pinned to Debian bookworm's builds (7 s here, from a warm apt cache); a node
# without them installs the same packages itself, so this only saves the tests
# that work (and runs it once, not once per test).
if ! command -v rclone >/dev/null || ! command -v fusermount3 >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    rclone_pkgs='rclone=1.60.1+dfsg-2+b5 fuse3=3.14.0-4'
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $rclone_pkgs >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $rclone_pkgs >/dev/null; }
  else
    echo "note: rclone and fuse3 are missing (sudo apt-get install -y rclone fuse3): the bucket mount tests will fail" >&2
  fi
fi

log "tests"
if [ -z "${ALOFT_SKYPILOT_EXAMPLES:-}" ] && [ ! -d ../shared/reference/skypilot-examples ]; then
  echo "note: ../shared/reference/skypilot-examples is not beside this checkout: the SkyPilot corpus checks are skipped (set ALOFT_SKYPILOT_EXAMPLES to run them)"
fi
# cargo-nextest runs every test in its own process, all binaries at once; it comes
# with this kind of machine, and is built from crates.io where it is missing.
# Two tests per core: the tests spend about half their time waiting on sshd, the
# fakes and the agents (one per core kept the CPUs 50% busy: 457 s; two: 285 s).
command -v cargo-nextest >/dev/null || cargo install -q --locked cargo-nextest
cargo nextest run --workspace --locked --no-fail-fast --test-threads "$((2 * $(nproc)))"

# After the tests, whose build they reuse (before them, they compiled every
# dependency in the test profile first: about 4 minutes of CI).
# Over the whole workspace, like the tests: with `-p` the dependencies' features
# differ and wasmtime is compiled a second time (3 minutes of CI).
log "doctests (nextest does not run them) and the crates' documentation, warnings denied"
cargo test --locked --doc --workspace
# The CLI is a binary named like the core crate: its pages would overwrite aloft's.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps --exclude aloft-cli
echo "all checks passed"
