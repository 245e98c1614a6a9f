#!/usr/bin/env bash
# The roaming lab: three servers give their clients the same WireGuard device (same key, same
# client peers, as behind an anycast address) and are linked by a full backbone mesh. Each runs
# wgsd-server publishing its client device, and wgsd-client --roam. A client connects to server 1;
# a host behind server 3 pings it. The client then reconnects to server 2 (its peer re-created with
# server 2's endpoint, as when the anycast route changes) and the host reaches it again within two
# intervals. What someone takes off server 3's backbone is put back; killed with -9 and started
# again, server 3's client takes back the route it left. Everything lives in network namespaces created here and is torn down on exit
# (processes by PID, then namespaces).
#
#   internet 192.0.2.0/25 (a bridge):   server1 .1   server2 .2   server3 .3   client .100
#   host LAN 192.0.2.128/25:            server3 .129   host .130
#   backbone tunnel 198.51.100.0/24:    server1 .1   server2 .2   server3 .3   (port 51821)
#   client tunnel 203.0.113.0/24:       every server .1 (one shared key, port 51820)   client .100
#
# Usage: roam-lab.sh [--demo] [--build-dir DIR]
set -euo pipefail
source "$(dirname "$0")/lab-lib.sh"
lab_init roam-lab rm "$@"
interval=2
ns_inet="${id}-inet"; ns_c="${id}-cl"; ns_h="${id}-host"
ns_s=("" "${id}-s1" "${id}-s2" "${id}-s3")
wg_b=("" "${id}b1" "${id}b2" "${id}b3")   # backbone devices
wg_c=("" "${id}c1" "${id}c2" "${id}c3")   # the client-facing device on each server
wg_k="${id}k"                             # the client's device

say "Building the lab: three servers and a client on an internet, a host behind server 3"
lab_netns "$ns_inet" "${ns_s[1]}" "${ns_s[2]}" "${ns_s[3]}" "$ns_c" "$ns_h"
for ns in "${lab_namespaces[@]}"; do
  in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
in_ns "$ns_inet" ip link add br0 type bridge
in_ns "$ns_inet" ip link set br0 up
for n in 1 2 3; do
  link "${ns_s[$n]}" wan "$ns_inet" "p$n"
  in_ns "$ns_inet" ip link set "p$n" master br0
  in_ns "${ns_s[$n]}" ip addr add "192.0.2.$n/25" dev wan
  in_ns "${ns_s[$n]}" sysctl -qw net.ipv4.ip_forward=1
done
link "$ns_c" eth0 "$ns_inet" p9
in_ns "$ns_inet" ip link set p9 master br0
in_ns "$ns_c" ip addr add 192.0.2.100/25 dev eth0
link "${ns_s[3]}" lan "$ns_h" eth0
in_ns "${ns_s[3]}" ip addr add 192.0.2.129/25 dev lan
in_ns "$ns_h" ip addr add 192.0.2.130/25 dev eth0
in_ns "$ns_h" ip route add default via 192.0.2.129

start_wg() {  # start_wg NS IFNAME KEYFILE PORT ADDRESS
  lab_wireguard "$1" "$2"
  in_ns "$1" wg set "$2" private-key "$3" listen-port "$4"
  in_ns "$1" ip addr add "$5" dev "$2"
  in_ns "$1" ip link set "$2" up
}
(umask 077; wg genkey >"$work/shared.key"; wg genkey >"$work/client.key"
 for n in 1 2 3; do wg genkey >"$work/backbone$n.key"; done)
pub_shared=$(wg pubkey <"$work/shared.key")
pub_client=$(wg pubkey <"$work/client.key")
for n in 1 2 3; do pub_b[$n]=$(wg pubkey <"$work/backbone$n.key"); done

say "Each server: a backbone to the other two, the shared client device, wgsd-server, wgsd-client --roam"
tsig_secret=$(head -c 32 /dev/urandom | base64)
for n in 1 2 3; do
  ns=${ns_s[$n]}
  start_wg "$ns" "${wg_b[$n]}" "$work/backbone$n.key" 51821 "198.51.100.$n/24"
  for m in 1 2 3; do
    ((m == n)) && continue
    allowed="198.51.100.$m/32"
    ((m == 3)) && allowed="$allowed,192.0.2.128/25"  # server 3 routes the host's LAN
    in_ns "$ns" wg set "${wg_b[$n]}" peer "${pub_b[$m]}" endpoint "192.0.2.$m:51821" allowed-ips "$allowed"
  done
  ((n != 3)) && in_ns "$ns" ip route add 192.0.2.128/25 dev "${wg_b[$n]}"
  start_wg "$ns" "${wg_c[$n]}" "$work/shared.key" 51820 203.0.113.1/24
  in_ns "$ns" wg set "${wg_c[$n]}" peer "$pub_client" allowed-ips 203.0.113.100/32
  cat >"$work/Corefile$n" <<COREFILE
.:53 {
    bind 198.51.100.$n
    wgsd clients.example. ${wg_c[$n]} {
        refresh 200ms
        ns ns.example.
    }
    tsig {
        secret roam. $tsig_secret
        require all
    }
}
COREFILE
  ip netns exec "$ns" "$server_bin" --conf "$work/Corefile$n" >"$work/server$n.log" 2>&1 &
  pids+=($!)
done
start_roam() {  # start_roam N: server N's wgsd-client --roam, its state file in the lab's directory
  local n=$1 m others=()
  for m in 1 2 3; do ((m == n)) || others+=(--dns "198.51.100.$m:53"); done
  ip netns exec "${ns_s[$n]}" "$client_bin" --roam --device "${wg_c[$n]}" --backbone "${wg_b[$n]}" "${others[@]}" --zone clients.example. \
    -y "roam.:$tsig_secret" --interval "${interval}s" --timeout 500ms --state "$work/roam$n.state" >>"$work/roam$n.log" 2>&1 &
  pids+=($!)
  roam_pid[$n]=$!
}
for n in 1 2 3; do start_roam "$n"; done
wait_for 100 in_ns "${ns_s[1]}" ping -c1 -W1 198.51.100.3 || fail "the backbone does not carry server 1 to server 3"
show <"$work/Corefile1"

say "The client connects to server 1"
start_wg "$ns_c" "$wg_k" "$work/client.key" 51820 203.0.113.100/32
in_ns "$ns_c" ip route add 203.0.113.0/24 dev "$wg_k"
in_ns "$ns_c" ip route add 192.0.2.128/25 dev "$wg_k"
connect() {  # connect SERVER: the client's peer, created afresh with that server's endpoint
  in_ns "$ns_c" wg set "$wg_k" peer "$pub_shared" remove
  in_ns "$ns_c" wg set "$wg_k" peer "$pub_shared" endpoint "192.0.2.$1:51820" allowed-ips 203.0.113.0/24,192.0.2.128/25 persistent-keepalive 1
  wait_for 100 in_ns "$ns_c" ping -c1 -W1 203.0.113.1 || fail "the client cannot reach server $1"
  local hs
  hs=$(in_ns "${ns_s[$1]}" wg show "${wg_c[$1]}" latest-handshakes | awk -v k="$pub_client" '$1==k {print $2}')
  [[ "$hs" -gt 0 ]] || fail "server $1 has no handshake with the client"
}
connect 1

ms() { echo $(($(date +%s%N) / 1000000)); }
reach() {  # reach START-MS LIMIT-SECONDS: the host pings the client; prints how long since START it took
  local start=$1
  shift
  while (($(ms) - start < $1 * 1000)); do
    if in_ns "$ns_h" ping -c1 -W1 203.0.113.100 >/dev/null 2>&1; then
      echo "$(($(ms) - start)) ms"
      return 0
    fi
  done
  return 1
}
t=$(reach "$(ms)" $((3 * interval + 5))) || fail "the host behind server 3 cannot reach the client at server 1: $(tail -n 5 "$work/roam3.log")"
echo "the host reaches the client at server 1 (after ${t})" | show
in_ns "${ns_s[3]}" ip route show proto 0x77 | sed 's/^/server3: /' | show
[[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[1]}" '$1==k') == *203.0.113.100/32* ]] \
  || fail "server 3 does not route the client via server 1"
[[ -z $(in_ns "${ns_s[1]}" ip route show proto 0x77) ]] || fail "server 1 routes its own client via the backbone"

say "The client moves to server 2 (its peer re-created with server 2's endpoint)"
sleep 1  # a handshake one second newer than server 1's
moved=$(ms)
# As when the anycast route changes: server 1 no longer reaches the client. Else a packet server 1
# still routes to the client makes it initiate a handshake, which the client accepts (the servers
# share one key), and the client is back at server 1.
in_ns "$ns_c" iptables -A INPUT -s 192.0.2.1 -p udp -j DROP
in_ns "$ns_c" iptables -A OUTPUT -d 192.0.2.1 -p udp -j DROP
connect 2
# Two intervals, and a second for the handshake and the ping itself on a loaded machine.
t=$(reach "$moved" $((2 * interval + 1))) || fail "the host cannot reach the client at server 2 within two intervals: $(tail -n 5 "$work/roam3.log")"
echo "the host reaches the client at server 2 again ${t} after the move (interval ${interval} s)" | show
[[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[2]}" '$1==k') == *203.0.113.100/32* ]] \
  || fail "server 3 does not route the client via server 2"
[[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[1]}" '$1==k') != *203.0.113.100/32* ]] \
  || fail "server 3 still routes the client via server 1"
# Each try reads the table afresh: a server learns of the move at its own next round.
backbone_routes() { [[ -n $(in_ns "${ns_s[$1]}" ip route show proto 0x77) ]]; }
no_backbone_routes() { ! backbone_routes "$1"; }
wait_for $((interval * 30 + 50)) no_backbone_routes 2 || fail "server 2 still routes its client via the backbone"
wait_for $((interval * 30 + 50)) backbone_routes 1 || fail "server 1 does not route the client to server 2"
sed 's/^/server3: /' "$work/roam3.log" | show

say "Someone takes the client's route and allowed IP off server 3's backbone: the next round puts them back"
in_ns "${ns_s[3]}" ip route del 203.0.113.100/32 dev "${wg_b[3]}" proto 0x77
in_ns "${ns_s[3]}" wg set "${wg_b[3]}" peer "${pub_b[2]}" allowed-ips 198.51.100.2/32
routed_via_2() {
  [[ -n $(in_ns "${ns_s[3]}" ip route show 203.0.113.100/32 dev "${wg_b[3]}" proto 0x77) ]] &&
    [[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[2]}" '$1==k') == *203.0.113.100/32* ]]
}
wait_for $((interval * 30 + 50)) routed_via_2 || fail "server 3 did not put back the client's route and allowed IP: $(tail -n 5 "$work/roam3.log")"
# The round writes the device, then says so: the line may come a moment after the route.
said_put_back() { grep -q "put back" "$work/roam3.log"; }
wait_for 50 said_put_back || fail "server 3 did not say what it put back: $(tail -n 5 "$work/roam3.log")"

say "Server 3's wgsd-client is killed (-9) with an allowed IP and a route of its own left over; started again, it takes them back"
kill -9 "${roam_pid[3]}"
wait "${roam_pid[3]}" 2>/dev/null || true
grep -q "^placed " "$work/roam3.state" || fail "server 3's state file does not record its placement"
# As a run killed between its record and its writes leaves: a placement of a client that has since
# left, recorded in the state file, its allowed IP on server 1's backbone peer and its route there.
gone_client=$(wg genkey | wg pubkey)
echo "placed $gone_client ${pub_b[1]} 198.18.0.0/24" >>"$work/roam3.state"
allowed_1=$(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[1]}" '$1==k {$1=""; print}' | xargs | tr ' ' ',')
in_ns "${ns_s[3]}" wg set "${wg_b[3]}" peer "${pub_b[1]}" allowed-ips "$allowed_1,198.18.0.0/24"
in_ns "${ns_s[3]}" ip route add 198.18.0.0/24 dev "${wg_b[3]}" proto 0x77
in_ns "${ns_s[3]}" ip route add 198.18.1.0/24 dev "${wg_b[3]}"              # an operator's: never touched
in_ns "${ns_s[3]}" ip route add 198.18.2.0/24 dev "${wg_b[3]}" proto 0x77  # wgsd's protocol, but not recorded: not its to delete
start_roam 3
leftover_gone() {
  [[ -z $(in_ns "${ns_s[3]}" ip route show 198.18.0.0/24) ]] &&
    [[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips) != *198.18.0.0/24* ]]
}
wait_for $((interval * 30 + 50)) leftover_gone || fail "server 3 did not take back the allowed IP and route a killed run left: $(tail -n 5 "$work/roam3.log")"
unrecorded() { ! grep -q "198.18.0.0/24" "$work/roam3.state"; }  # written just after the writes
wait_for 50 unrecorded || fail "server 3's state file still records what it took back"
routed_via_2 || fail "server 3 lost the client's placement over the restart"
[[ $(in_ns "${ns_s[3]}" wg show "${wg_b[3]}" allowed-ips | awk -v k="${pub_b[1]}" '$1==k') == *198.51.100.1/32* ]] \
  || fail "server 3 took server 1's own backbone address off its peer"
[[ -n $(in_ns "${ns_s[3]}" ip route show 198.18.1.0/24) ]] || fail "server 3 deleted an operator's route"
[[ -n $(in_ns "${ns_s[3]}" ip route show 198.18.2.0/24) ]] || fail "server 3 deleted a route its state file does not record"
in_ns "${ns_s[3]}" ip route del 198.18.1.0/24 dev "${wg_b[3]}"
in_ns "${ns_s[3]}" ip route del 198.18.2.0/24 dev "${wg_b[3]}" proto 0x77

say "Stopped, each wgsd-client --roam takes back what it added"
for n in 1 2 3; do
  pid=${roam_pid[$n]}
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
for n in 1 2 3; do
  [[ -z $(in_ns "${ns_s[$n]}" ip route show proto 0x77) ]] || fail "server $n kept a backbone route after stopping"
  [[ $(in_ns "${ns_s[$n]}" wg show "${wg_b[$n]}" allowed-ips) != *203.0.113.100/32* ]] || fail "server $n kept the client on a backbone peer after stopping"
done
echo "roam-lab: PASSED"
