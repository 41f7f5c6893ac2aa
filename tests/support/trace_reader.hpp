// SPDX-License-Identifier: BSL-1.0
// read_trace(): the recorder's export (asynclink::trace::write_chrome_json)
// parsed and checked against the file contract: the top-level keys, one
// process, named lanes, and every flow start matched by one flow end.
#pragma once

#include <asynclink/trace.hpp>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mini_json.hpp"

#if ASYNCLINK_TRACE

namespace test_support {

struct TraceFile {
    mini_json::Value root;
    std::map<double, std::string> lanes;   ///< tid -> lane name
    std::vector<mini_json::Value> events;  ///< everything but the metadata

    /// The tid of the lane whose name starts with `prefix`, or -1.
    double lane(const std::string& prefix) const {
        for (const auto& [tid, name] : lanes) {
            if (name.rfind(prefix, 0) == 0) return tid;
        }
        return -1;
    }
    std::vector<mini_json::Value> with(const std::string& ph, const std::string& cat = "") const {
        std::vector<mini_json::Value> out;
        for (const auto& e : events) {
            if (e["ph"].string == ph && (cat.empty() || (e.has("cat") && e["cat"].string == cat))) out.push_back(e);
        }
        return out;
    }
    double dropped(const std::string& lane) const {
        const auto& d = root["otherData"]["dropped"];
        return d.has(lane) ? d[lane].number : 0;
    }
};

/// Exports the current recording and parses it; a parse error fails the test.
inline TraceFile read_trace() {
    std::ostringstream out;
    asynclink::trace::write_chrome_json(out);
    TraceFile t;
    try {
        t.root = mini_json::parse(out.str());
    } catch (const std::exception& e) {
        ADD_FAILURE() << "the export is not valid JSON: " << e.what() << "\n" << out.str().substr(0, 2000);
        return t;
    }
    EXPECT_EQ(t.root["displayTimeUnit"].string, "ns");
    EXPECT_EQ(t.root["otherData"]["clock"].string, "steady");
    EXPECT_TRUE(t.root["otherData"].has("asynclink"));
    std::map<double, int> starts;
    std::map<double, int> ends;
    for (const auto& e : t.root["traceEvents"].array) {
        EXPECT_EQ(e["pid"].number, 1);
        if (e["ph"].string == "M") {
            if (e["name"].string == "thread_name") t.lanes[e["tid"].number] = e["args"]["name"].string;
            continue;
        }
        if (e["ph"].string == "s") ++starts[e["id"].number];
        if (e["ph"].string == "f") ++ends[e["id"].number];
        t.events.push_back(e);
    }
    EXPECT_EQ(starts.size(), ends.size());
    for (const auto& [id, n] : starts) {
        EXPECT_EQ(n, 1) << "flow " << id;
        EXPECT_EQ(ends[id], 1) << "flow " << id << " has no single end";
    }
    for (const auto& e : t.events) EXPECT_TRUE(t.lanes.count(e["tid"].number) != 0) << "an event on an unnamed lane";
    return t;
}

}  // namespace test_support

#endif
