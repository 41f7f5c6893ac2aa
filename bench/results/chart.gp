set terminal svg size 1400,760 dynamic noenhanced font "sans,11" background rgb "white"
set output "chart.svg"
set title "asynclink against its peers: time per operation (median; lower is better; log scale)"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set ylabel "ns per operation (k = 1000)"
set xtics rotate by 35 right scale 0 font ",10"
set bmargin 9
set key top left
set grid ytics
plot "chart.dat" using 2:xtic(1) title "asynclink" lc rgb "#1f77b4", \
     "" using 3 title "Boost.Asio" lc rgb "#ff7f0e", \
     "" using 4 title "Tokio" lc rgb "#2ca02c", \
     "" using 5 title "CPython asyncio" lc rgb "#d62728", \
     "" using 6 title "raw floor/ceiling" lc rgb "#7f7f7f"
