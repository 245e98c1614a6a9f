#!/usr/bin/env bash
# The NAT lab: two WireGuard peers behind two port-randomising NATs find each other through a
# wgsd registry and talk directly. Everything lives in network namespaces created here, uses
# documentation address ranges, and is torn down on exit (processes by PID, then namespaces).
#
#   internet 192.0.2.0/24 (a bridge):  registry 192.0.2.1   nat1 192.0.2.11   nat2 192.0.2.12
#   LAN 1 198.51.100.0/25:             nat1 .1   peer1 .2
#   LAN 2 198.51.100.128/25:           nat2 .129 peer2 .130
#   tunnel 203.0.113.0/24:             registry .1   peer1 .2   peer2 .3   peer3 .4
#   peer3 192.0.2.13, on the internet:  joins later knowing only the registry (wgsd-client --sync)
#
# Usage: nat-lab.sh [--demo] [--build-dir DIR]
#   --demo    narrate each step (the README's first command runs this)
#   default   test mode: quiet, exit 0 on success, 1 on failure, 77 when it cannot run here
set -euo pipefail
source "$(dirname "$0")/lab-lib.sh"
lab_init nat-lab wl "$@"
ns_inet="${id}-inet"; ns_reg="${id}-reg"; ns_nat1="${id}-nat1"; ns_nat2="${id}-nat2"; ns_p1="${id}-p1"; ns_p2="${id}-p2"; ns_p3="${id}-p3"
wg_reg="${id}r"; wg_p1="${id}a"; wg_p2="${id}b"; wg_p3="${id}c"

say "Building the lab: an internet, a registry, two NAT routers, two peers behind them"
lab_netns "$ns_inet" "$ns_reg" "$ns_nat1" "$ns_nat2" "$ns_p1" "$ns_p2" "$ns_p3"
in_ns "$ns_inet" ip link add br0 type bridge
in_ns "$ns_inet" ip link set br0 up
link "$ns_reg" wan "$ns_inet" p0
link "$ns_nat1" wan "$ns_inet" p1
link "$ns_nat2" wan "$ns_inet" p2
link "$ns_p3" eth0 "$ns_inet" p3
for p in p0 p1 p2 p3; do in_ns "$ns_inet" ip link set "$p" master br0; done
link "$ns_nat1" lan "$ns_p1" eth0
link "$ns_nat2" lan "$ns_p2" eth0
in_ns "$ns_reg" ip addr add 192.0.2.1/24 dev wan
in_ns "$ns_nat1" ip addr add 192.0.2.11/24 dev wan
in_ns "$ns_nat2" ip addr add 192.0.2.12/24 dev wan
in_ns "$ns_p3" ip addr add 192.0.2.13/24 dev eth0
in_ns "$ns_nat1" ip addr add 198.51.100.1/25 dev lan
in_ns "$ns_p1" ip addr add 198.51.100.2/25 dev eth0
in_ns "$ns_p1" ip route add default via 198.51.100.1
in_ns "$ns_nat2" ip addr add 198.51.100.129/25 dev lan
in_ns "$ns_p2" ip addr add 198.51.100.130/25 dev eth0
in_ns "$ns_p2" ip route add default via 198.51.100.129

# Home routers: source NAT with port randomisation, and unsolicited inbound packets dropped (else
# the first packet from the far side would create a conntrack entry that steals the port).
for ns in "$ns_nat1" "$ns_nat2"; do
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$ns" iptables -t nat -A POSTROUTING -o wan -p udp -j MASQUERADE --to-ports 40000-50000
  in_ns "$ns" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
  in_ns "$ns" iptables -P FORWARD DROP
  in_ns "$ns" iptables -A FORWARD -i lan -o wan -j ACCEPT
  in_ns "$ns" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$ns" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$ns" iptables -A INPUT -i wan -j DROP
done
in_ns "$ns_reg" sysctl -qw net.ipv4.ip_forward=0  # the registry never relays between the peers
printf '%s\n' "internet 192.0.2.0/24: registry .1, nat1 .11, nat2 .12" \
  "peer1 198.51.100.2 behind nat1, peer2 198.51.100.130 behind nat2 (MASQUERADE --to-ports 40000-50000)" | show

say "Starting wireguard-go on the registry and both peers"
start_wg() {  # start_wg NS IFNAME TUNNEL-ADDRESS
  lab_wireguard "$1" "$2"
  (umask 077; in_ns "$1" wg genkey >"$work/$2.key")
  in_ns "$1" wg set "$2" private-key "$work/$2.key" listen-port 51820
  in_ns "$1" ip addr add "$3" dev "$2"
  in_ns "$1" ip link set "$2" up
}
start_wg "$ns_reg" "$wg_reg" 203.0.113.1/24
start_wg "$ns_p1" "$wg_p1" 203.0.113.2/32
start_wg "$ns_p2" "$wg_p2" 203.0.113.3/32
pub_reg=$(wg pubkey <"$work/$wg_reg.key")
pub_p1=$(wg pubkey <"$work/$wg_p1.key")
pub_p2=$(wg pubkey <"$work/$wg_p2.key")
in_ns "$ns_reg" wg set "$wg_reg" peer "$pub_p1" allowed-ips 203.0.113.2/32 peer "$pub_p2" allowed-ips 203.0.113.3/32
# Each peer knows the registry (public address, keepalive) and the other peer's key only: no endpoint.
in_ns "$ns_p1" wg set "$wg_p1" peer "$pub_reg" endpoint 192.0.2.1:51820 allowed-ips 203.0.113.1/32 persistent-keepalive 1 \
  peer "$pub_p2" allowed-ips 203.0.113.3/32
in_ns "$ns_p2" wg set "$wg_p2" peer "$pub_reg" endpoint 192.0.2.1:51820 allowed-ips 203.0.113.1/32 persistent-keepalive 1 \
  peer "$pub_p1" allowed-ips 203.0.113.2/32
in_ns "$ns_p1" ip route add 203.0.113.0/24 dev "$wg_p1"
in_ns "$ns_p2" ip route add 203.0.113.0/24 dev "$wg_p2"
printf '%s\n' "registry $pub_reg" "peer1    $pub_p1" "peer2    $pub_p2" | show

say "Both peers reach the registry through their NATs"
wait_for 100 in_ns "$ns_p1" ping -c1 -W1 203.0.113.1 || fail "peer1 cannot reach the registry"
wait_for 100 in_ns "$ns_p2" ping -c1 -W1 203.0.113.1 || fail "peer2 cannot reach the registry"
in_ns "$ns_reg" wg show "$wg_reg" endpoints | show
map_p1=$(in_ns "$ns_reg" wg show "$wg_reg" endpoints | awk -v k="$pub_p1" '$1==k {print $2}')
map_p2=$(in_ns "$ns_reg" wg show "$wg_reg" endpoints | awk -v k="$pub_p2" '$1==k {print $2}')
[[ "$map_p1" == 192.0.2.11:* && "$map_p2" == 192.0.2.12:* ]] || fail "registry sees unexpected endpoints: $map_p1 $map_p2"
[[ "${map_p1##*:}" != 51820 && "${map_p2##*:}" != 51820 ]] || fail "the NATs kept the listen port; the lab must randomise it"
echo "the NATs mapped peer1 to $map_p1 and peer2 to $map_p2 (not the ListenPort 51820)" | show

say "wgsd-server on the registry, bound to its tunnel address"
tsig_secret=$(head -c 32 /dev/urandom | base64)
cat >"$work/Corefile" <<COREFILE
.:53 {
    bind 203.0.113.1
    log
    wgsd example.com. $wg_reg {
        max-age 3m
    }
    tsig {
        secret lab. $tsig_secret
    }
}
COREFILE
show <"$work/Corefile"
ip netns exec "$ns_reg" "$server_bin" --conf "$work/Corefile" >"$work/server.log" 2>&1 &
pids+=($!)
wait_for 100 in_ns "$ns_p1" dig +short +time=1 +tries=1 @203.0.113.1 example.com. SOA || fail "wgsd-server does not answer"

b32_p2=$(echo "$pub_p2" | base64 -d | base32 -w0)
say "peer1 asks the registry where peer2 is (dig through the tunnel)"
in_ns "$ns_p1" dig +norec +nocookie @203.0.113.1 "$b32_p2._wireguard._udp.example.com." SRV | sed -n '/ANSWER SECTION/,/^$/p;/ADDITIONAL SECTION/,/^$/p' | show

say "wgsd-client on both peers"
for side in 1 2; do
  ns_var="ns_p$side"; wg_var="wg_p$side"
  in_ns "${!ns_var}" "$client_bin" --device "${!wg_var}" --dns 203.0.113.1:53 --zone example.com. --json \
    >"$work/client$side.json" 2>"$work/client$side.log" || fail "wgsd-client on peer$side exited $?: $(cat "$work/client$side.log")"
  sed "s/^/peer$side: /" "$work/client$side.log" | show
done
got_p2=$(in_ns "$ns_p1" wg show "$wg_p1" endpoints | awk -v k="$pub_p2" '$1==k {print $2}')
got_p1=$(in_ns "$ns_p2" wg show "$wg_p2" endpoints | awk -v k="$pub_p1" '$1==k {print $2}')
[[ "$got_p2" == "$map_p2" ]] || fail "peer1 has $got_p2 for peer2, the registry sees $map_p2"
[[ "$got_p1" == "$map_p1" ]] || fail "peer2 has $got_p1 for peer1, the registry sees $map_p1"
grep -q "\"public_key\":\"$pub_reg\",\"outcome\":\"fresh\"" "$work/client1.json" || fail "the working tunnel to the registry was not left alone"
echo "peer1 now has $got_p2 for peer2; peer2 has $got_p1 for peer1: the NAT mappings the registry sees" | show

say "The peers ping each other over their direct tunnel (both send, the NATs open)"
ok=0
for _ in $(seq 1 20); do
  in_ns "$ns_p2" ping -c1 -W1 203.0.113.2 >/dev/null 2>&1 &
  other=$!
  if in_ns "$ns_p1" ping -c1 -W1 203.0.113.3 >/dev/null 2>&1; then ok=1; fi
  wait "$other" || true
  ((ok)) && break
done
((ok)) || fail "no direct tunnel: peer1 cannot ping peer2"
in_ns "$ns_p2" ping -c3 -i0.2 -W1 203.0.113.2 | tail -n 2 | show || fail "peer2 cannot ping peer1"
hs=$(in_ns "$ns_p1" wg show "$wg_p1" latest-handshakes | awk -v k="$pub_p2" '$1==k {print $2}')
[[ "$hs" -gt 0 ]] || fail "no handshake between the peers"
in_ns "$ns_p1" wg show "$wg_p1" | show

say "A second client run leaves the now-working tunnel alone"
in_ns "$ns_p1" "$client_bin" --device "$wg_p1" --dns 203.0.113.1:53 --zone example.com. --json >"$work/again.json" 2>"$work/again.log" \
  || fail "second client run exited $?"
grep -q "\"public_key\":\"$pub_p2\",\"outcome\":\"fresh\"" "$work/again.json" || fail "the fresh tunnel to peer2 was not left alone: $(cat "$work/again.json")"
[[ $(in_ns "$ns_p1" wg show "$wg_p1" endpoints | awk -v k="$pub_p2" '$1==k {print $2}') == "$map_p2" ]] || fail "endpoint changed"
sed 's/^/peer1: /' "$work/again.log" | show

say "Discovery worked: a direct peer-to-peer tunnel through two NATs"

say "Mesh bootstrap: peer3 knows only the registry; wgsd-client --sync brings in every other peer"
start_wg "$ns_p3" "$wg_p3" 203.0.113.4/32
pub_p3=$(wg pubkey <"$work/$wg_p3.key")
in_ns "$ns_reg" wg set "$wg_reg" peer "$pub_p3" allowed-ips 203.0.113.4/32
in_ns "$ns_p3" wg set "$wg_p3" peer "$pub_reg" endpoint 192.0.2.1:51820 allowed-ips 203.0.113.1/32 persistent-keepalive 1
in_ns "$ns_p3" ip route add 203.0.113.0/24 dev "$wg_p3"
wait_for 100 in_ns "$ns_p3" ping -c1 -W1 203.0.113.1 || fail "peer3 cannot reach the registry"
# The registry publishes peer3 once a refresh has read its handshake.
for _ in $(seq 1 50); do
  in_ns "$ns_p1" dig +short +time=1 +tries=1 @203.0.113.1 _wireguard._udp.example.com. PTR | grep -qi "$(echo "$pub_p3" | base64 -d | base32 -w0)" && break
  sleep 0.1
done
sync_args=(--dns 203.0.113.1:53 --zone example.com. -y "hmac-sha256:lab.:$tsig_secret" --sync --allowed-within 203.0.113.0/24 --keepalive 1s)
for side in 3 1 2; do
  ns_var="ns_p$side"; wg_var="wg_p$side"
  in_ns "${!ns_var}" "$client_bin" --device "${!wg_var}" "${sync_args[@]}" --state "$work/peer$side.sync" \
    >"$work/sync$side.out" 2>"$work/sync$side.log" || fail "wgsd-client --sync on peer$side exited $?: $(cat "$work/sync$side.log")"
  sed "s/^/peer$side: /" "$work/sync$side.log" | show
done
for k in "$pub_p1" "$pub_p2"; do
  grep -q "^added $k\$" "$work/peer3.sync" || fail "peer3 did not add $k: $(cat "$work/sync3.log")"
done
[[ $(in_ns "$ns_p3" wg show "$wg_p3" allowed-ips | awk -v k="$pub_p1" '$1==k {print $2}') == 203.0.113.2/32 ]] || fail "peer3 lacks peer1's allowed IP"
[[ $(in_ns "$ns_p3" wg show "$wg_p3" endpoints | awk -v k="$pub_p2" '$1==k {print $2}') == "$map_p2" ]] || fail "peer3 lacks peer2's endpoint"
grep -q "^added $pub_p3\$" "$work/peer1.sync" || fail "peer1 did not add peer3: $(cat "$work/sync1.log")"
! grep -q "^added $pub_p2\$" "$work/peer1.sync" || fail "peer1 took over peer2, which it had before"
in_ns "$ns_p3" wg show "$wg_p3" | show

say "peer3 pings both other peers over direct tunnels (the registry forwards nothing)"
for side in 1 2; do
  ns_var="ns_p$side"; addr="203.0.113.$((side + 1))"
  ok=0
  for _ in $(seq 1 20); do
    in_ns "${!ns_var}" ping -c1 -W1 203.0.113.4 >/dev/null 2>&1 &
    other=$!
    if in_ns "$ns_p3" ping -c1 -W1 "$addr" >/dev/null 2>&1; then ok=1; fi
    wait "$other" || true
    ((ok)) && break
  done
  ((ok)) || fail "no direct tunnel: peer3 cannot ping peer$side"
  in_ns "$ns_p3" ping -c2 -i0.2 -W1 "$addr" | tail -n 2 | show || fail "peer3 cannot ping peer$side again"
done
echo "peer3 reached peer1 and peer2 directly, knowing only the registry at first" | show
echo "nat-lab: PASSED"
