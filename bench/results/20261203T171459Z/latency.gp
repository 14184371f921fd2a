set terminal svg size 900,560 dynamic font 'sans,12' background '#ffffff'
set output 'latency.svg'
set title 'post-to-delivery latency, 1 KiB, 10 members, open-loop (20261203T171459Z)'
set xlabel 'offered messages/s'
set ylabel 'latency (ms)'
set logscale xy
set grid
set key outside right top
plot 'latency-casus.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'casus (ws://) p50', 'latency-casus.dat' using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '#1f77b4' title 'casus (ws://) p99', 'latency-casus-tls.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#2ca02c' title 'casus (wss://, TLS) p50', 'latency-casus-tls.dat' using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '#2ca02c' title 'casus (wss://, TLS) p99', 'latency-mosquitto.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#ff7f0e' title 'mosquitto 2.0 QoS 1 p50', 'latency-mosquitto.dat' using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '#ff7f0e' title 'mosquitto 2.0 QoS 1 p99', 'latency-ejabberd.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'ejabberd 23.01 MUC+MAM p50', 'latency-ejabberd.dat' using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '#d62728' title 'ejabberd 23.01 MUC+MAM p99'
