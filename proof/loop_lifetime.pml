/* SPDX-License-Identifier: BSL-1.0 */
/* The end of a loop with setters in flight.
 * Mirrors include/asynclink/detail/wake_core.hpp (WakeSlot::bind/post,
 * WakeCore::post/release) and Loop::~Loop / Loop::close (src/loop.cpp).
 *
 * A ThreadSafeFlag armed by a task of loop 0 (its slot holds core 0). Two
 * setters each set() once: the one that takes the waiting bit posts through
 * the slot. Loop 0 ends (its waiter is cancelled, its core closed, the loop's
 * reference dropped) and loop 1 then uses the flag (the slot is rebound to
 * core 1, the task waits again), ends, and the flag is destroyed once the
 * setters have stopped (its contract). Checked:
 *   - no setter touches a core after it was freed (use-after-free);
 *   - no node is left queued in a list nobody will run (a closed core's);
 *   - every core is freed in the end (no reference leaks).
 * Mutants (each must fail):
 *   MUTANT_NO_BORROW      the setter reads the slot's core without borrowing
 *                         it, and rebinding drops the old core at once;
 *   MUTANT_NO_CLOSED_MARK a post to a closed core is accepted (the old Loop
 *                         left it queued in a dead list). */

#define NONE 2
#define BIAS 16

byte refs[2];
bool freed[2];
bool closed[2];
bool in_list[2];       /* the flag's node is in core c's posted list */
bool queued;           /* RemoteNode::queued */
bool waiting;          /* the flag's waiting bit */
byte slot_core = NONE; /* WakeSlot: the core ... */
byte slot_borrows;     /* ... and the borrow count in the pointer's low bits */
byte setters_done;

inline use(c) { assert(!freed[c]) }

inline release(c, n) {
    atomic {
        assert(!freed[c]);
        refs[c] = refs[c] - (n);
        if
        :: refs[c] == 0 -> freed[c] = true
        :: else -> skip
        fi
    }
}

/* WakeSlot::bind(next): bias, swap, settle (the loop's thread). */
inline bind(next) {
    byte prev, b;
    atomic { prev = slot_core; if :: next != NONE -> refs[next]++ :: else -> skip fi }
#ifdef MUTANT_NO_BORROW
    slot_core = next;
    if :: prev != NONE -> release(prev, 1) :: else -> skip fi
#else
    if :: prev != NONE -> atomic { refs[prev] = refs[prev] + BIAS } :: else -> skip fi;
    atomic { b = slot_borrows; slot_core = next; slot_borrows = 0 };
    if :: prev != NONE -> release(prev, BIAS - b + 1) :: else -> skip fi
#endif
}

/* The loop's close: the CLOSED marker swapped in, the list taken and run. */
inline close_core(c) {
    atomic {
        closed[c] = true;
        if :: in_list[c] -> in_list[c] = false; queued = false :: else -> skip fi
    }
}

/* The loop takes its posted list and runs the node (or not yet). */
inline maybe_take(c) {
    if
    :: atomic { in_list[c] -> in_list[c] = false; queued = false }
    :: skip
    fi
}

proctype setter() {
    byte c = NONE;
    bool duty = false;
    atomic { if :: waiting -> waiting = false; duty = true :: else -> skip fi }  /* set(): fetch_or */
    if
    :: duty ->
#ifdef MUTANT_NO_BORROW
        c = slot_core;
#else
        atomic { c = slot_core; if :: c != NONE -> slot_borrows++ :: else -> skip fi }  /* borrow(): CAS */
#endif
        if
        :: c != NONE ->
            /* WakeCore::post: exchange(queued), then the CAS onto the list */
            use(c);
            if
            :: atomic { queued -> skip }    /* coalesced */
            :: atomic { !queued -> queued = true };
                atomic {
                    use(c);
#ifdef MUTANT_NO_CLOSED_MARK
                    in_list[c] = true
#else
                    if :: closed[c] -> queued = false :: else -> in_list[c] = true fi
#endif
                };
                use(c)                      /* wake_if_sleeping: sleeping_, the eventfd */
            fi;
#ifndef MUTANT_NO_BORROW
            /* give_back(): into the slot if still counted there, else our own reference */
            if
            :: atomic { slot_core == c && slot_borrows > 0 -> slot_borrows-- }
            :: atomic { !(slot_core == c && slot_borrows > 0) -> assert(!freed[c]); refs[c]--;
                        if :: refs[c] == 0 -> freed[c] = true :: else -> skip fi }
            fi
#endif
            skip
        :: else -> skip
        fi
    :: else -> skip
    fi;
    setters_done++
}

init {
    /* Loop 0 runs; its task armed the flag: the loop's reference and the slot's. */
    refs[0] = 1;
    bind(0);
    waiting = true;
    atomic { run setter(); run setter() };

    maybe_take(0);
    /* ~Loop 0: the shutdown cancels the waiter (withdraws the waiting bit),
     * the drain runs what was posted, then the close. */
    waiting = false;
    maybe_take(0);
    close_core(0);
    release(0, 1);

    /* Loop 1 uses the flag: the binding passes to it, and its task waits. */
    refs[1] = 1;
    bind(1);
    waiting = true;
    maybe_take(1);
    waiting = false;
    close_core(1);
    release(1, 1);

    /* The flag is destroyed once every setter has stopped. */
    setters_done == 2;
    bind(NONE);
    assert(!in_list[0] && !in_list[1] && !queued);
    assert(freed[0] && freed[1])
}
