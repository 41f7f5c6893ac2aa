/* SPDX-License-Identifier: BSL-1.0 */
/* ThreadSafeFlag (include/asynclink/thread_safe_flag.hpp): one task waits, another
 * context sets. Checked: the waiter is always woken by a set() that was not
 * cleared (no invalid end state = no lost wake-up, no deadlock), a cancelled
 * waiter leaves the set for the next wait, and the set is consumed exactly once.
 * Run: spin -a thread_safe_flag.pml && cc -o pan pan.c && ./pan   (-DCANCEL for cancellation)
 * -DCLEAR: a third context calls clear() while the set and the wait race; the
 * setter then sets once more (so a wake-up is owed whatever the clear erased).
 * Checked: a clear() racing a posted wake-up leaves the waiter waiting with
 * its waiting bit (on_notify finds the set gone and waits on), and the later
 * set() still wakes it. Its mutant -DMUTANT_CLEAR_ZEROES has clear() store 0,
 * erasing the waiting bit too: the later set() posts nothing and the waiter
 * sleeps for good; verification must fail. */
#include "loop_wake.pml"

#define SET 1
#define WAITING 2

byte state = 0;       /* ThreadSafeFlag::state_ */
bool queued = false;  /* node_.queued */
bool posted = false;  /* node_ on Loop::posted_ */
bool waiter = false;  /* ThreadSafeFlag::waiter_ != nullptr */
bool woken = false;   /* the waiting task is in the ready queue */
byte consumed = 0;    /* sets observed by a returning wait() */

bool cleared = false;

inline flag_set() {
    atomic { old = state; state = state | SET }          /* fetch_or(set_bit) */
    if
    :: (old & WAITING) && !(old & SET) -> notify(0, queued, posted)
    :: else -> skip
    fi
}

active proctype Setter() {
    byte old;
    flag_set();
#ifdef CLEAR
    cleared;                                             /* after the clear() has run */
    flag_set()
#endif
}

#ifdef CLEAR
active proctype Clearer() {
#ifdef MUTANT_CLEAR_ZEROES
    state = 0;
#else
    state = state & ~SET;                                /* fetch_and(~set_bit) */
#endif
    cleared = true
}
#endif

/* on_notify(): runs on the loop after the node is taken off the list. */
inline on_notify() {
    if
    :: waiter ->
        atomic {
            if
            :: (state & SET) -> state = 0; waiter = false; woken = true
            :: else -> skip
            fi
        }
    :: else -> skip
    fi
}

active proctype Loop() {
    byte s;
    bool cancelled_once = false;
wait:
    /* await_ready: try_consume */
    atomic { s = state; state = state & ~SET }
    if
    :: (s & SET) -> consumed++; goto done
    :: else -> skip
    fi;
    /* await_suspend: consume a racing set, or CAS 0 -> WAITING */
    atomic {
        if
        :: (state & SET) -> state = 0; consumed++; goto done
        :: else -> state = WAITING; waiter = true
        fi
    }
    do
    :: woken -> consumed++; break
    :: else ->
        /* take_posted_work: exchange the list, clear queued, run */
        if
        :: posted -> posted = false; queued = false; on_notify()
        :: else -> skip
        fi;
        if
        :: woken -> consumed++; break
#ifdef CANCEL
        :: !woken && waiter && !cancelled_once ->
            /* on_cancel: withdraw the waiting bit, keep any set; then wait again */
            atomic { state = state & ~WAITING; waiter = false }
            cancelled_once = true;
            goto wait
#endif
        :: else -> sleep_unless(0, posted)
        fi
    od;
done:
    assert(consumed == 1);
#ifdef CLEAR
    assert((state & WAITING) == 0 || !waiter)            /* the second set may still be in the flag */
#else
    assert(state == 0 || state == WAITING)
#endif
}
