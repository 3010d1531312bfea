#!/usr/bin/env bash
# Launch to the job's end on remote nodes, whole process: a 2-node `ssh` pool (two
# sshd "machines" on 127.0.0.2/3 with their own homes) and a 2-node cluster on
# `aws` against moto (SSH routed to the same kind of machines). Needs a release
# build, hyperfine, sshd and .venv (scripts/test.sh makes it).
# Usage: scripts/bench-remote-launch.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
A=$PWD/target/release/aloft
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$W/key"
machine() { # name ip
  local d="$W/$1"; mkdir -p "$d/home"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  cat "$W/key.pub" > "$d/authorized_keys"
  local port; port=$(python3 -c 'import socket;s=socket.socket();s.bind(("'"$2"'",0));print(s.getsockname()[1])')
  cat > "$d/sshd_config" <<CONF
Port $port
ListenAddress $2
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
PasswordAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 50
MaxSessions 50
SetEnv HOME=$d/home
ForceCommand cd "\$HOME" && eval "\$SSH_ORIGINAL_COMMAND"
CONF
  /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
  cp "$d/sshd.pid" "$W/$1.pid"
  echo "$port"
}
PA=$(machine a 127.0.0.2); PB=$(machine b 127.0.0.3)
cat "$W/key.pub" >> "$W/a/authorized_keys"; cat "$W/key.pub" >> "$W/b/authorized_keys"
cat > "$W/task.yaml" <<'T'
num_nodes: 2
setup: echo setting up
run: echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES"
T

echo "== ssh node pool, 2 nodes"
export ALOFT_HOME=$W/ssh-home; mkdir -p "$ALOFT_HOME"
cat > "$ALOFT_HOME/ssh_node_pools.yaml" <<P
lab:
  user: $(id -un)
  identity_file: $W/key
  cpus: 2
  hosts: [{ip: 127.0.0.2, port: $PA}, {ip: 127.0.0.3, port: $PB}]
P
sed 's/^num_nodes: 2/num_nodes: 2\nresources: {infra: ssh\/lab}/' "$W/task.yaml" > "$W/ssh.yaml"
"$A" launch -y -c warm "$W/ssh.yaml" >/dev/null && "$A" down -y warm 2>/dev/null
hyperfine -N --runs "$RUNS" -c "$A down -y b" "$A launch -y -c b $W/ssh.yaml"

echo "== aws on moto, 2 nodes"
MP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$MP" >/dev/null 2>&1 & echo $! > "$W/moto.pid"
until python3 -c "import socket;socket.create_connection(('127.0.0.1',$MP))" 2>/dev/null; do sleep 0.2; done
export ALOFT_HOME=$W/aws-home; mkdir -p "$ALOFT_HOME/keys"
cp "$W/key" "$ALOFT_HOME/keys/aloft-key"; cp "$W/key.pub" "$ALOFT_HOME/keys/aloft-key.pub"
echo "{\"machines\": [[\"127.0.0.2\", $PA], [\"127.0.0.3\", $PB]], \"assigned\": {}}" > "$W/map.json"
cat > "$ALOFT_HOME/config.yaml" <<C
providers:
  aws:
    endpoint: http://127.0.0.1:$MP
    ssh_user: $(id -un)
    ssh_proxy_command: $PWD/.venv/bin/python $PWD/tests/ssh_relay.py $W/map.json %h http://127.0.0.1:$MP
C
sed 's/^num_nodes: 2/num_nodes: 2\nresources: {infra: aws\/us-east-1, instance_type: m6i.large}/' "$W/task.yaml" > "$W/aws.yaml"
export AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench AWS_SHARED_CREDENTIALS_FILE=/nonexistent
reset='echo "{\"machines\": [[\"127.0.0.2\", '$PA'], [\"127.0.0.3\", '$PB']], \"assigned\": {}}" > '$W'/map.json'
"$A" launch -y -c warm "$W/aws.yaml" >/dev/null && "$A" down -y warm 2>/dev/null
hyperfine --runs "$RUNS" ${SHOW:+--show-output} -p "$A down -y b >/dev/null 2>&1 || true; $reset" -c "$A down -y b" "$A launch -y -c b $W/aws.yaml"
