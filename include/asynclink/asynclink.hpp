// The umbrella header: everything asynclink offers.
#pragma once

#include "asynclink/errors.hpp"
#include "asynclink/event.hpp"
#include "asynclink/gather.hpp"
#include "asynclink/lock.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/outcome.hpp"
#include "asynclink/port/port.hpp"
#include "asynclink/queue.hpp"
#include "asynclink/semaphore.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/wait_for.hpp"
