// SPDX-License-Identifier: BSL-1.0
// trace-convert DUMP [-o trace.json]: turns a trace dump (asynclink::trace::
// dump(), e.g. written by a Cortex-M firmware over semihosting or captured
// from its UART) into the Chrome trace event JSON that Perfetto UI,
// chrome://tracing and tools/trace-view open. Without -o, to standard output.
#include <asynclink/trace.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

int usage(const char* why) {
    std::cerr << "trace-convert: " << why << "\nusage: trace-convert DUMP [-o OUT.json]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string input;
    std::string output;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "-o") == 0) {
            if (i + 1 == argc) return usage("-o needs a file name");
            output = argv[++i];
        } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
            std::cout << "usage: trace-convert DUMP [-o OUT.json]\n";
            return 0;
        } else if (input.empty()) {
            input = argv[i];
        } else {
            return usage("one dump at a time");
        }
    }
    if (input.empty()) return usage("no dump given");
    std::ifstream in(input, std::ios::binary);
    if (!in) {
        std::cerr << "trace-convert: cannot read " << input << ": " << std::strerror(errno) << "\n";
        return 1;
    }
    try {
        if (output.empty()) {
            asynclink::trace::convert_dump(in, std::cout);
            std::cout.flush();
            if (!std::cout) throw std::runtime_error("writing to standard output failed");
            return 0;
        }
        // Converted in memory first: a bad dump leaves no half-written file.
        std::ostringstream json;
        asynclink::trace::convert_dump(in, json);
        std::ofstream out(output);
        out << json.str();
        out.close();
        if (!out) throw std::runtime_error("cannot write " + output);
    } catch (const std::exception& e) {
        std::cerr << "trace-convert: " << input << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
