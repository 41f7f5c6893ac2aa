// SPDX-License-Identifier: BSL-1.0
/// @file
/// Moved to <asynclink/posix/stream_open.hpp> in 0.2.0; this path keeps 0.1 code building.
#pragma once

#include "asynclink/posix/stream_open.hpp"
