/* SPDX-License-Identifier: BSL-1.0 */
/* The schedule() ring against the loop's close. Mirrors
 * WakeCore::schedule, pop_scheduled, close_schedule and pop_closing
 * (src/wake_core.cpp): Vyukov's bounded queue, positions scaled by 2 so the
 * claim word carries the closed bit, and a publishing CAS per cell against
 * the closer's "dead" CAS. Two producers schedule twice each into a ring of
 * two cells while the loop runs some calls and then closes. Checked: every
 * call accepted (schedule() returned true) runs, exactly once; the closer
 * never waits for a producer (it has no blocking step).
 * Mutants (each must fail):
 *   MUTANT_PLAIN_PUBLISH       the producer publishes with a plain store, as
 *                              before: a cell the closer gave up on is
 *                              published anyway and the call is accepted;
 *   MUTANT_CLOSE_SKIPS_CLAIMED the closer runs the published cells and
 *                              ignores the claimed ones (no dead mark). */

#define CAP 2

byte seq[CAP];       /* cell sequence: free for p: 2p; published: 2p+1; next lap: 2(p+CAP); dead: 2p+2 */
byte enq;            /* schedule_enqueue_ / 2 ... */
bool enq_closed;     /* ... and its bit 0 */
byte deq;            /* schedule_dequeue_ / 2 (the loop's) */
byte accepted;
byte ran;
byte producers_done;

proctype producer() {
    byte attempt = 0;
    byte pos, s;
    do
    :: attempt == 2 -> break
    :: attempt < 2 ->
        attempt++;
retry:
        atomic { if :: enq_closed -> goto next :: else -> pos = enq fi };
        s = seq[pos % CAP];
        if
        :: s == 2 * pos ->
            atomic {
                if
                :: enq == pos && !enq_closed -> enq = pos + 1   /* the claiming CAS */
                :: else -> goto retry
                fi
            };
            /* cell.fn, cell.arg written here */
#ifdef MUTANT_PLAIN_PUBLISH
            seq[pos % CAP] = 2 * pos + 1;
            accepted++
#else
            atomic {
                if
                :: seq[pos % CAP] == 2 * pos -> seq[pos % CAP] = 2 * pos + 1; accepted++
                :: else -> skip   /* marked dead by the close: refused */
                fi
            }
#endif
        :: s < 2 * pos -> skip    /* full: refused */
        :: s > 2 * pos -> goto retry
        fi;
next:   skip
    od;
    producers_done++
}

proctype loop() {
    byte end;
    /* Iterations: run what is published, in order, while the loop lives. */
    do
    :: atomic { deq < enq && seq[deq % CAP] == 2 * deq + 1 -> ran++; seq[deq % CAP] = 2 * (deq + CAP); deq++ }
    :: break
    od;
    /* ~Loop: close the ring (fetch_or), then settle every claimed cell. */
    atomic { end = enq; enq_closed = true };
    do
    :: deq == end -> break
    :: deq < end ->
        atomic {
#ifdef MUTANT_CLOSE_SKIPS_CLAIMED
            if
            :: seq[deq % CAP] == 2 * deq + 1 -> ran++
            :: else -> skip
            fi;
#else
            if
            :: seq[deq % CAP] == 2 * deq -> seq[deq % CAP] = 2 * deq + 2   /* dead: its producer refuses */
            :: else -> assert(seq[deq % CAP] == 2 * deq + 1); ran++
            fi;
#endif
            deq++
        }
    od
}

init {
    seq[0] = 0;
    seq[1] = 2;
    atomic { run producer(); run producer(); run loop() };
    (producers_done == 2 && _nr_pr == 1);
    assert(accepted == ran)
}
