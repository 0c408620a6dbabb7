# Charts of bench/results/summary.md; bench/report/summary.ts writes the .dat files and calls:
#   gnuplot -e "datadir='...'; outdir='...'; have_milter=1; have_postfix=1" bench/report/charts.gp
set terminal pngcairo size 900,520 font "DejaVu Sans,11"
set grid ytics lc rgb "#dddddd"
set key top left box opaque

if (have_milter) {
  set output outdir."/throughput.png"
  set title "Milter sessions/s against concurrent MTA connections (envelope sessions, 2 RCPT)"
  set xlabel "concurrent milter connections"
  set ylabel "sessions/s (median)"
  set logscale x 2
  set yrange [0:*]
  set key outside top center horizontal noopaque nobox
  plot datadir."/throughput.dat" using 1:2 with linespoints lw 2 pt 7 title "ref-accept (C, libmilter)", \
       ""                        using 1:3 with linespoints lw 2 pt 5 title "ref-count (C, libmilter)", \
       ""                        using 1:4 with linespoints lw 2 pt 9 title "Floodgate (shipped rules, LevelDB)"
  unset logscale x
  set key inside top left box opaque vertical

  set output outdir."/latency.png"
  set title "RCPT answer latency percentiles (closed loop at 16 connections; open loop at half of Floodgate's peak)"
  set xlabel ""
  set ylabel "milliseconds (log scale)"
  set logscale y
  set yrange [*:*]
  set style data histograms
  set style histogram clustered gap 1
  set style fill solid 0.8 border -1
  set xtics rotate by -20 scale 0
  plot datadir."/latency.dat" using 2:xtic(1) title "p50", "" using 3 title "p90", "" using 4 title "p99", "" using 5 title "p99.9"
  unset logscale y
  set xtics norotate
}

if (have_postfix) {
  set output outdir."/postfix.png"
  set title "Through Postfix: messages/s accepted (median, bars from slowest to fastest run)"
  set xlabel ""
  set ylabel "messages/s"
  set yrange [0:*]
  set style data histograms
  set style fill solid 0.7 border -1
  set boxwidth 0.6
  set xtics rotate by -20 scale 0
  unset key
  plot datadir."/postfix.dat" using 0:2:xtic(1) with boxes lc rgb "#4a7ab5", \
       ""                    using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
}
