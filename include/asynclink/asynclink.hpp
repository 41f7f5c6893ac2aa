// SPDX-License-Identifier: BSL-1.0
/// @file
/// The umbrella header: everything asynclink offers on a hosted (Linux) port.
/// The freestanding part alone is <asynclink/core.hpp>.
#pragma once

#include "asynclink/condition.hpp"
#include "asynclink/core.hpp"

#include "asynclink/context.hpp"
#include "asynclink/posix/periodic_signal.hpp"
#include "asynclink/posix/server.hpp"
#include "asynclink/posix/stream.hpp"
#include "asynclink/posix/stream_open.hpp"
#include "asynclink/select.hpp"
#include "asynclink/shield.hpp"
#include "asynclink/task_group.hpp"
#include "asynclink/unblock.hpp"
#include "asynclink/wait.hpp"
