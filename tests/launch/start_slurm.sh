#!/bin/bash
# Test helper: a single-node Slurm cluster on loopback, for tests/launch/slurm_test.cc.
#
#   start_slurm.sh DIR CTLD_PORT SLURMD_PORT   writes DIR/slurm.conf, starts munged, slurmctld
#                                              and slurmd with their state, logs and pid files in
#                                              DIR, and waits until the node takes jobs
#   start_slurm.sh --stop DIR                  stops the three daemons (by their pid files)
#
# Clients use it with SLURM_CONF=DIR/slurm.conf. Everything listens on 127.0.0.1 only, and munged
# has its own key and socket, so nothing here touches a system-wide Slurm or munge. Runs as root
# (SlurmUser=root). On failure: exit 1 and the reason on stderr (the daemon's own log lines).
set -u

stop() {
  local dir=$1
  for d in slurmd slurmctld munged; do
    local pidfile="$dir/$d.pid"
    [ -s "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
  done
}

if [ "${1:-}" = "--stop" ]; then
  stop "$2"
  exit 0
fi

dir=$1 ctld_port=$2 slurmd_port=$3
fail() {
  echo "start_slurm.sh: $*" >&2
  for log in munged.log slurmctld.log slurmd.log; do
    [ -s "$dir/$log" ] && { echo "--- $dir/$log (last lines):" >&2; tail -n 8 "$dir/$log" >&2; }
  done
  stop "$dir"
  exit 1
}

for cmd in munged mungekey slurmctld slurmd sinfo; do
  command -v "$cmd" >/dev/null 2>&1 || fail "$cmd not found (apt-get install -y slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || fail "must run as root (SlurmUser=root, slurmd starts jobs as their user)"

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" || fail "cannot create folders in $dir"
# munged refuses a key or a socket folder that others can read or write.
chmod 0700 "$dir" "$dir/munge"
mungekey --create --keyfile="$dir/munge/munge.key" --force 2>"$dir/mungekey.err" ||
  fail "mungekey: $(cat "$dir/mungekey.err")"
chmod 0600 "$dir/munge/munge.key"
munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed" \
  --force 2>"$dir/munged.err" || fail "munged: $(cat "$dir/munged.err")"

node=$(hostname -s)
cpus=2
mem=1024
cat >"$dir/slurm.conf" <<CONF
ClusterName=hpsweep-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -i 2>"$dir/slurmctld.err" || fail "slurmctld: $(cat "$dir/slurmctld.err")"
slurmd 2>"$dir/slurmd.err" || fail "slurmd: $(cat "$dir/slurmd.err")"

# Up when the node is idle (it registered and takes jobs).
for _ in $(seq 1 150); do
  state=$(sinfo --noheader --nodes="$node" --format=%t 2>/dev/null)
  case "$state" in idle*) exit 0 ;; esac
  sleep 0.2
done
fail "the node $node did not become idle within 30 s (sinfo says '${state:-nothing}')"
