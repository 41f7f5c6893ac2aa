// SPDX-License-Identifier: BSL-1.0
// What every benchmark binary shares: how many repetitions and how long each
// runs (set by tools/compare through the environment, so that --quick and
// the full run use the same binaries), and the spread statistics reported
// beside the median.
//
//   ASYNCLINK_BENCH_REPETITIONS   repetitions of each benchmark (default 5)
//   ASYNCLINK_BENCH_TIME_SCALE    factor on each benchmark's minimum time (default 1)
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace asynclink_bench {

inline int repetitions() {
    const char* text = std::getenv("ASYNCLINK_BENCH_REPETITIONS");
    int n = text != nullptr ? std::atoi(text) : 0;
    return n > 0 ? n : 5;
}

inline double min_time(double seconds) {
    const char* text = std::getenv("ASYNCLINK_BENCH_TIME_SCALE");
    double scale = text != nullptr ? std::atof(text) : 0.0;
    return seconds * (scale > 0 ? scale : 1.0);
}

/// Repeated runs reported as aggregates: mean, median, stddev, cv (Google
/// Benchmark's) plus min and max, the spread tools/compare shows.
inline benchmark::internal::Benchmark* repeated(benchmark::internal::Benchmark* b, double seconds) {
    return b->MinTime(min_time(seconds))
        ->Repetitions(repetitions())
        ->ReportAggregatesOnly(true)
        ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
        ->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
}

}  // namespace asynclink_bench
