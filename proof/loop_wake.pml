/* SPDX-License-Identifier: BSL-1.0 */
/* The loop's side of every wake-up, shared by the models in this folder.
 * Mirrors src/wake_core.cpp (WakeCore::post, WakeCore::wake_if_sleeping;
 * with -DWAKE_IS_A_STORE the one-core Cortex-M variant in
 * include/asynclink/detail/wake_core.hpp and port/cortex_m.hpp's Idle),
 * src/loop.cpp (Loop::take_posted_work) and src/loop_idle.cpp (the sleep step,
 * Loop::wait_for_work)
 * (the "waiter bit handshake"). The loop's end with posters in flight is
 * modelled in loop_lifetime.pml, the schedule() ring's close in schedule_close.pml.
 * Promela is sequentially consistent: these models check the protocol's logic;
 * the memory orders that make the C++ behave sequentially consistently at the
 * points that matter are argued next to the code. One RemoteNode per primitive
 * side is modelled as the booleans queued/posted of that node. */

bool sleeping[2];       /* Loop::sleeping_ of loop 0 and loop 1 */
byte eventfd[2];        /* their eventfd counters */

/* Loop::notify(node): coalesce through node.queued, push, wake if sleeping. */
inline notify(L, queued, posted) {
    atomic {
        if
        :: queued -> skip                         /* already posted: coalesce */
        :: else -> queued = true; posted = true   /* exchange(queued) + CAS push */
        fi
    }
#ifdef WAKE_IS_A_STORE
    /* ASYNCLINK_PORT_WAKE_IS_A_STORE (one Cortex-M core): every post wakes,
     * Idle::wake() being one store; eventfd stands for Idle's woken flag. */
    eventfd[L] = 1
#else
    /* wake_if_sleeping: fence F1, then exchange(sleeping_, false) */
    atomic {
        if
        :: sleeping[L] -> sleeping[L] = false; eventfd[L] = 1
        :: else -> skip
        fi
    }
#endif
}

/* The sleep step of Loop::run_once: announce, fence F2, re-check, sleep. The
 * sleep (epoll_wait on the eventfd) blocks until a poster writes the eventfd:
 * a lost wake-up shows as a process blocked here forever (an invalid end state). */
inline sleep_unless(L, work_pending) {
#ifdef WAKE_IS_A_STORE
    /* announce_sleep() is Idle::rearm(): forget the wakes of posts already
     * taken, then look for work; Idle::wait sleeps until the flag is set (its
     * look at the flag and its WFI are one step: interrupts are masked). */
#ifdef MUTANT_REARM_AFTER_CHECK
    /* A broken loop that clears the flag after its look: a post in between
     * is slept through (ctest runs this mutant expecting failure). */
    if
    :: work_pending -> skip
    :: else -> eventfd[L] = 0; (eventfd[L] > 0); eventfd[L] = 0
    fi
#else
    eventfd[L] = 0;
    if
    :: work_pending -> skip
    :: else -> (eventfd[L] > 0); eventfd[L] = 0
    fi
#endif
#else
    sleeping[L] = true;
#ifdef MUTANT_NO_RECHECK
    /* A deliberately broken loop that sleeps without the re-check after F2:
     * verification must fail (ctest runs this mutant expecting failure). */
    (eventfd[L] > 0); eventfd[L] = 0; sleeping[L] = false
#else
    if
    :: work_pending -> sleeping[L] = false
    :: else -> (eventfd[L] > 0); eventfd[L] = 0; sleeping[L] = false
    fi
#endif
#endif
}
