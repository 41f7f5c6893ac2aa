// SPDX-License-Identifier: BSL-1.0
// `--trace FILE` for the examples and the demo: records the run with
// asynclink's trace recorder and writes it when main returns, as Chrome trace
// event JSON (open it in Perfetto UI or chrome://tracing, or make a page of it
// with tools/trace-view). A program of your own does the same in four lines:
//
//     asynclink::trace::start();
//     ... run the loop ...
//     asynclink::trace::stop();
//     asynclink::trace::write_chrome_json("trace.json");
#pragma once

#include <asynclink/asynclink.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace example {

class TraceOption {
public:
    /// Takes "--trace FILE" out of argv, so the example's own options parse as
    /// before, and starts recording if it was there. Each context keeps its
    /// first `records_per_lane` records; the export counts the rest as dropped.
    TraceOption(int& argc, char** argv, std::size_t records_per_lane = 8192) {
        int kept = 1;
        for (int i = 1; i < argc; ++i) {
            if (std::strcmp(argv[i], "--trace") == 0) {
                if (i + 1 == argc) {
                    std::fprintf(stderr, "%s: --trace needs a file name\n", argv[0]);
                    std::exit(2);
                }
                path_ = argv[++i];
                continue;
            }
            argv[kept++] = argv[i];
        }
        argc = kept;
        argv[argc] = nullptr;
        if (path_ == nullptr) return;
#if ASYNCLINK_TRACE
        asynclink::trace::Options options;
        options.records_per_lane = records_per_lane;
        asynclink::trace::start(options);
#else
        static_cast<void>(records_per_lane);
        std::fprintf(stderr, "%s: --trace: this asynclink was built without the trace recorder (ASYNCLINK_TRACE=OFF)\n",
                     argv[0]);
        std::exit(2);
#endif
    }
    TraceOption(const TraceOption&) = delete;
    TraceOption& operator=(const TraceOption&) = delete;

    /// Writes the trace (at the end of main).
    ~TraceOption() {
#if ASYNCLINK_TRACE
        if (path_ == nullptr) return;
        asynclink::trace::stop();
        try {
            asynclink::trace::write_chrome_json(std::string(path_));
            std::fprintf(stderr, "trace written to %s\n", path_);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
        }
#endif
    }

private:
    const char* path_ = nullptr;
};

}  // namespace example
