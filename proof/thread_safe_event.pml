/* SPDX-License-Identifier: BSL-1.0 */
/* ThreadSafeEvent / Message (include/asynclink/detail/event_core.hpp): two tasks
 * wait on one loop; another context sets the event and then clears it at once;
 * the loop may cancel the first waiter at any point (the last waiter to leave
 * withdraws the waiting bit). Checked: every waiter that
 * was not cancelled wakes — even though clear() may run before the loop sees
 * the set (the epoch carries the set) — and a cancelled waiter costs the other
 * nothing (no invalid end state = no lost wake-up, no deadlock).
 * -DMUTANT_NO_EPOCH: waiters wake only if the set bit is still there when the
 * loop looks (the seed's behaviour); verification must fail.
 * -DEPOCH_WRAP: the epoch rule at its limit. The epoch is shrunk to one bit
 * (it has 30 in the C++), and the setter sets, clears and sets again while
 * the loop looks away: the epoch comes back round to the waiters' own, with
 * the event set. on_notify wakes every waiter when the event is set and
 * compares epochs only otherwise, so they still wake. Its mutant
 * -DMUTANT_EPOCH_ONLY compares epochs only (the code before 0.2.0):
 * the waiters sleep with the event set; verification must fail. */
#include "loop_wake.pml"

#define SET 1
#define WAITING 2
#define EPOCH 4
#ifdef EPOCH_WRAP
#define EPOCHS 2               /* the epoch is state / EPOCH modulo EPOCHS */
#else
#define EPOCHS 64
#endif
#define EPOCH_OF(s) (((s) / EPOCH) % EPOCHS)

byte state = 0;        /* EventCore::state_: set, waiting, epoch * 4 */
bool queued = false; bool posted = false;
bool listed[2];        /* waiter i in the loop's list */
byte epoch_of[2];      /* the epoch waiter i recorded */
bool woken[2];
bool cancelled[2];
bool done_waiting[2];

/* EventCore::set(): the epoch field wraps as the C++ one does. */
inline event_set() {
    atomic {
        s = state;
        if
        :: (s & SET) -> skip
        :: else -> state = (((s & ~WAITING) + EPOCH) % (EPOCH * EPOCHS)) | SET
        fi
    }
    if
    :: !(s & SET) && (s & WAITING) -> notify(0, queued, posted)
    :: else -> skip
    fi
}

active proctype Setter() {
    byte s;
    event_set();
    state = state & ~SET;         /* clear() right after */
#ifdef EPOCH_WRAP
    event_set()                   /* back at the waiters' epoch, and left set */
#endif
}

inline wake_due() {
    /* on_notify's inner loop: wake every waiter from an older epoch */
    snap = state;                  /* the s that on_notify loaded */
    e = EPOCH_OF(snap);
    now_set = (snap & SET) != 0;
    i = 0;
    do
    :: i < 2 ->
#if defined(MUTANT_NO_EPOCH)
        if :: listed[i] && now_set -> listed[i] = false; woken[i] = true :: else -> skip fi;
#elif defined(MUTANT_EPOCH_ONLY)
        if :: listed[i] && epoch_of[i] != e -> listed[i] = false; woken[i] = true :: else -> skip fi;
#else
        if :: listed[i] && (now_set || epoch_of[i] != e) -> listed[i] = false; woken[i] = true :: else -> skip fi;
#endif
        i++
    :: else -> break
    od
}

inline on_notify() {
    do
    :: true ->
        wake_due();
        if
        :: !listed[0] && !listed[1] -> break
        :: else ->
            atomic {
                if
                :: (snap & WAITING) -> ok = true
                :: state == snap -> state = state | WAITING; ok = true   /* the CAS from s */
                :: else -> ok = false      /* a set slipped in: go round */
                fi
            }
            if :: ok -> break :: else -> skip fi
        fi
    od
}

/* Waiter::await_suspend for waiter k (await_ready already saw the event clear). */
inline start_wait(k) {
    atomic {
        if
        :: (state & SET) -> done_waiting[k] = true    /* set: does not suspend */
        :: else -> epoch_of[k] = EPOCH_OF(state); listed[k] = true
        fi
    }
    if
    :: listed[k] ->
        atomic {
            if
            :: (state & WAITING) -> skip
            :: EPOCH_OF(state) == epoch_of[k] && !(state & SET) -> state = state | WAITING
            :: else -> listed[k] = false; done_waiting[k] = true   /* a set slipped in */
            fi
        }
    :: else -> skip
    fi
}

/* A waiter is finished when it returned, was woken or cancelled — or when it
 * began waiting only after the one set() (epoch 1) had been cleared again: it
 * rightly waits for a set() that this model never makes. */
#ifdef EPOCH_WRAP
/* The last set() stays: every waiter must end woken, returned or cancelled. */
#define FINISHED(k) (done_waiting[k] || woken[k] || cancelled[k])
#else
#define FINISHED(k) (done_waiting[k] || woken[k] || cancelled[k] || (listed[k] && epoch_of[k] == 1))
#endif

active proctype Loop() {
    byte e; byte i; byte snap; bool ok; bool now_set;
    start_wait(0);
    start_wait(1);
    do
    :: FINISHED(0) && FINISHED(1) -> break
    :: else ->
        if
        :: posted -> posted = false; queued = false; on_notify()
        :: else -> skip
        fi;
        if
        :: FINISHED(0) && FINISHED(1) -> skip
        :: listed[0] && !cancelled[0] ->                                            /* on_cancel of waiter 0 */
            atomic {
                listed[0] = false; cancelled[0] = true;
                if :: !listed[1] -> state = state & ~WAITING :: else -> skip fi   /* the last waiter withdraws the bit */
            }
#ifndef EPOCH_WRAP
        :: woken[1] -> assert(epoch_of[1] == 0); skip                                 /* never woken without a set */
#endif
        :: else -> sleep_unless(0, posted)
        fi
    od
}
