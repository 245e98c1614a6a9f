#!/usr/bin/env bash
# The chart of a bench/run.sh run: queries per second and server CPU µs per query against the
# number of peers, for each server and the floor, both loads. Needs gnuplot (Debian gnuplot-nox).
#
# usage: bench/chart.sh DATA PNG [TITLE]
# DATA has one line per peer count and server: "peers server mix_qps mix_cpu srv_qps srv_cpu"
# (run.sh writes it next to its results).
set -euo pipefail
(($# >= 2)) || { echo "usage: bench/chart.sh DATA PNG [TITLE]" >&2; exit 2; }
data=$1 png=$2 title=${3:-}
[[ -s $data ]] || { echo "chart: '$data' is missing or empty" >&2; exit 2; }
xtics=$(awk '{print $1}' "$data" | sort -un |
  awk '{label = $1; if ($1 >= 1000) label = ($1 / 1000) "k"; printf "%s\"%s\" %s", (NR > 1 ? ", " : ""), label, $1}')
servers=$(awk '{print $2}' "$data" | awk '!seen[$0]++' | tr '\n' ' ')
plots() {  # COLUMN: one line per server, from DATA's rows for that server
  local col=$1 s sep=""
  for s in $servers; do
    printf '%s"< awk '\''$2 == \\"%s\\"'\'' %s" using 1:%s with linespoints title "%s" %s' \
      "$sep" "$s" "$data" "$col" "$s" "$(style "$s")"
    sep=", "
  done
}
style() {
  case $1 in
    wgsd) echo 'lw 2 pt 7 lc rgb "#1f77b4"' ;;
    knot) echo 'lw 2 pt 5 lc rgb "#d62728"' ;;
    nsd) echo 'lw 2 pt 9 lc rgb "#2ca02c"' ;;
    floor) echo 'lw 2 pt 1 dt 2 lc rgb "#555555"' ;;
    *) echo 'lw 2' ;;
  esac
}
# (A single peer count makes an empty x range, which gnuplot widens with a warning: not shown.)
gnuplot 2> >(grep -v "empty x range" >&2) <<GNUPLOT
set terminal pngcairo size 1200,800 font "DejaVu Sans,10"
set output "$png"
set multiplot layout 2,2 title "$title"
set key bottom left horizontal opaque box
set grid
set xtics ($xtics)
set offsets graph 0.05, graph 0.05, 0, 0
set xlabel "peers"
set yrange [0:*]
set title "mix: queries per second (bounded by dnsperf on the same 2 cores)"
set ylabel "queries/s"
plot $(plots 3)
set title "mix: server CPU per query"
set ylabel "CPU µs/query"
plot $(plots 4)
set title "srv: queries per second"
set ylabel "queries/s"
plot $(plots 5)
set title "srv: server CPU per query"
set ylabel "CPU µs/query"
plot $(plots 6)
unset multiplot
GNUPLOT
echo "chart: $png"
