/* ThreadSafeEvent / Message (include/asynclink/detail/event_core.hpp): two tasks
 * wait on one loop; another context sets the event and then clears it at once;
 * the loop may cancel the first waiter at any point (the last waiter to leave
 * withdraws the waiting bit). Checked: every waiter that
 * was not cancelled wakes — even though clear() may run before the loop sees
 * the set (the epoch carries the set) — and a cancelled waiter costs the other
 * nothing (no invalid end state = no lost wake-up, no deadlock).
 * -DMUTANT_NO_EPOCH: waiters wake only if the set bit is still there when the
 * loop looks (the seed's behaviour); verification must fail. */
#include "loop_wake.pml"

#define SET 1
#define WAITING 2
#define EPOCH 4

byte state = 0;        /* EventCore::state_: set, waiting, epoch * 4 */
bool queued = false; bool posted = false;
bool listed[2];        /* waiter i in the loop's list */
byte epoch_of[2];      /* the epoch waiter i recorded */
bool woken[2];
bool cancelled[2];
bool done_waiting[2];

active proctype Setter() {
    byte s;
    atomic {
        s = state;
        if
        :: (s & SET) -> skip
        :: else -> state = ((s & ~WAITING) + EPOCH) | SET
        fi
    }
    if
    :: !(s & SET) && (s & WAITING) -> notify(0, queued, posted)
    :: else -> skip
    fi;
    state = state & ~SET          /* clear() right after */
}

inline wake_due() {
    /* on_notify's inner loop: wake every waiter from an older epoch */
    e = state / EPOCH;
    i = 0;
    do
    :: i < 2 ->
#ifdef MUTANT_NO_EPOCH
        if :: listed[i] && (state & SET) -> listed[i] = false; woken[i] = true :: else -> skip fi;
#else
        if :: listed[i] && epoch_of[i] != e -> listed[i] = false; woken[i] = true :: else -> skip fi;
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
                :: (state & WAITING) -> ok = true
                :: (state / EPOCH) == e -> state = state | WAITING; ok = true
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
        :: else -> epoch_of[k] = state / EPOCH; listed[k] = true
        fi
    }
    if
    :: listed[k] ->
        atomic {
            if
            :: (state & WAITING) -> skip
            :: (state / EPOCH) == epoch_of[k] -> state = state | WAITING
            :: else -> listed[k] = false; done_waiting[k] = true   /* a set slipped in */
            fi
        }
    :: else -> skip
    fi
}

/* A waiter is finished when it returned, was woken or cancelled — or when it
 * began waiting only after the one set() (epoch 1) had been cleared again: it
 * rightly waits for a set() that this model never makes. */
#define FINISHED(k) (done_waiting[k] || woken[k] || cancelled[k] || (listed[k] && epoch_of[k] == 1))

active proctype Loop() {
    byte e; byte i; bool ok;
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
        :: woken[1] -> assert(epoch_of[1] == 0); skip                                 /* never woken without a set */
        :: else -> sleep_unless(0, posted)
        fi
    od
}
