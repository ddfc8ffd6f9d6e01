#!/usr/bin/env bash
# CPU cost of the splice path: iperf3 through a TCP tunnel (relay and agent started through the
# CLI on loopback), then MB/s and each process's CPU per 100 MB from /proc (user + system, all
# threads, and the main thread alone). CPU per byte is steadier than MB/s on a shared machine.
#   bench/splice-cpu.sh                  # 3 runs of 6 s, ChaChaPoly
#   CIPHER=aesgcm RUNS=5 SECS=10 bench/splice-cpu.sh
# Extra node flags for both processes: NODE_FLAGS="--cpu-prof". Needs iperf3 (apt-get install -y iperf3).
set -uo pipefail
cd "$(dirname "$0")/.."
CIPHER=${CIPHER:-chachapoly} RUNS=${RUNS:-3} SECS=${SECS:-6}
command -v iperf3 >/dev/null || { echo "needs iperf3: apt-get install -y iperf3" >&2; exit 2; }
[ -f dist/cli/index.js ] || npm run build >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
# utime stime of every thread, summed; and of the main thread (ticks)
ticks() { cat /proc/$1/task/*/stat 2>/dev/null | awk '{u+=$14; s+=$15} END {print u, s}'; }
mainticks() { awk '{print $14, $15}' /proc/$1/task/$1/stat; }
hz=$(getconf CLK_TCK)
for run in $(seq "$RUNS"); do
  home=$work/home-$run; mkdir -m 700 "$home"
  tcp=$(port); sink=$(port); agentp=$(port)
  iperf3 -s -1 -p "$sink" >/dev/null 2>&1 & sinkpid=$!
  RELAY_HOME=$home node ${NODE_FLAGS:-} dist/cli/index.js serve --allow-any-agent --admin-listen off --tls-listen off \
    --agent-listen 127.0.0.1:$agentp --tcp-ports $tcp-$tcp >"$work/relay.log" 2>&1 & relay=$!
  for _ in $(seq 300); do grep -q relay.ready "$work/relay.log" && break; sleep 0.05; done
  key=$(grep -o '"publicKey":"[^"]*' "$work/relay.log" | head -1 | cut -d'"' -f4)
  RELAY_HOME=$home node ${NODE_FLAGS:-} dist/cli/index.js agent --relay 127.0.0.1:$agentp --relay-key "$key" --cipher "$CIPHER" \
    --tcp 127.0.0.1:$sink >"$work/agent.log" 2>&1 & agent=$!
  for _ in $(seq 300); do grep -q tunnel.ready "$work/agent.log" && break; sleep 0.05; done
  read -r ru0 rs0 < <(ticks $relay); read -r au0 as0 < <(ticks $agent)
  read -r rm0 rn0 < <(mainticks $relay); read -r am0 an0 < <(mainticks $agent)
  bytes=$(iperf3 -c 127.0.0.1 -p "$tcp" -t "$SECS" -J | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).end.sum_received.bytes))')
  read -r ru1 rs1 < <(ticks $relay); read -r au1 as1 < <(ticks $agent)
  read -r rm1 rn1 < <(mainticks $relay); read -r am1 an1 < <(mainticks $agent)
  kill -TERM $relay $agent 2>/dev/null; wait $relay $agent 2>/dev/null; kill $sinkpid 2>/dev/null
  RUN=$run node -e '
    const [b, hz, secs, ...t] = process.argv.slice(1).map(Number);
    const ms = (ticks) => (ticks * 1000 / hz) * 1e8 / b;
    const [ru, rs, au, as, rm, am] = t;
    console.log(`run ${process.env.RUN}: ${(b / 1e6 / secs).toFixed(0)} MB/s  ` +
      `relay ${ms(ru).toFixed(0)} user + ${ms(rs).toFixed(0)} sys ms/100MB (main thread ${ms(rm).toFixed(0)})  ` +
      `agent ${ms(au).toFixed(0)} + ${ms(as).toFixed(0)} (main ${ms(am).toFixed(0)})`);
  ' "$bytes" "$hz" "$SECS" $((ru1-ru0)) $((rs1-rs0)) $((au1-au0)) $((as1-as0)) $((rm1+rn1-rm0-rn0)) $((am1+an1-am0-an0))
done
