/* Message::next (include/asynclink/message.hpp): one task iterates with next()
 * while another context set()s 1, 2, ..., N at full speed. Mirrors set()
 * (publishing_ count, EventCore::set, publish), NextWaiter (take_if_set, the
 * clear of the wake-up flag, the wait for a set() in flight, the EventCore wait)
 * and take_published(). EventCore is reduced to its set/waiting bits (one
 * waiter; its epoch matters only for several waiters: thread_safe_event.pml).
 * Checked: the task always gets N in the end (no lost wake-up: a task blocked
 * forever is an invalid end state), and each next() yields a newer value than
 * the one before (never the same set twice).
 * Mutant MUTANT_NO_INFLIGHT_WAIT: next() without the wait for a set() in flight
 * after clearing the flag (the bug fixed in commit "Message::next: fix a lost
 * wake-up"): a set() whose flag raise coalesced with a flag still up is slept
 * through; verification must fail.
 * -DWAIT_CLEAR: the task reads with co_await m, then m.clear() (Message::Waiter
 * and Message::clear), the seed's usual pattern. A set() that lands between the
 * read and the clear is cleared by it (the pattern's known cost), so the check
 * here is the lost wake-up itself: once the setter is done, the task must never
 * sleep for good while the message is set (a monitor asserts it).
 * Its mutant MUTANT_CLEAR_NO_RERAISE: clear() without raising the flag again
 * for a set() in flight: the same lost wake-up, through clear(). */
#include "loop_wake.pml"

#define N 3
#define SET 1
#define WAITING 2

byte core = 0;          /* EventCore::state_ (set, waiting bits) */
bool msg_set = false;   /* Message: message_set_bit */
byte msg = 0;           /* Message: the value in the current slot */
byte publishing = 0;    /* Message::publishing_ */
bool queued = false;    /* EventCore::node_.queued */
bool posted = false;    /* node_ on Loop::posted_ */
bool waiter = false;    /* a task in EventCore::waiters_ */
bool woken = false;     /* the task is in the ready queue */
bool ok_now = false;    /* WAIT_CLEAR: the wait found the flag up */
bool setter_done = false;

/* EventCore::set(). */
inline core_set(old) {
    atomic {
        old = core;
        if
        :: (old & SET) -> skip                          /* coalesces with a flag still up */
        :: else -> core = SET                           /* takes the waiting bit */
        fi
    }
    if
    :: !(old & SET) && (old & WAITING) -> notify(0, queued, posted)
    :: else -> skip
    fi
}

active proctype Setter() {
    byte v = 1;
    byte old;
    do
    :: v <= N ->
        publishing++;                                   /* fetch_add, then fence F3 */
        core_set(old);
        atomic { msg = v; msg_set = true };             /* publish(slot) */
        publishing--;                                   /* release decrement */
        v++
    :: else -> break
    od;
    setter_done = true
}

/* EventCore::on_notify on the loop: wake the waiter. */
inline on_notify() {
    if
    :: waiter -> waiter = false; woken = true
    :: else -> skip
    fi
}

/* take_if_set(): clear the message and take its value, in one step. */
inline take_if_set(ok) {
    atomic {
        if
        :: msg_set -> msg_set = false; got = msg; ok = true
        :: else -> ok = false
        fi
    }
}

/* take_published(): after the flag was seen up. */
inline take_published() {
    do
    :: true ->
        take_if_set(ok);
        if
        :: ok -> break
        :: else -> skip
        fi;
        if
        :: publishing == 0 ->
            take_if_set(ok);
            if
            :: !ok -> got = msg                          /* read_latest() */
            :: else -> skip
            fi;
            break
        :: else -> skip
        fi
    od
}

#ifdef WAIT_CLEAR
active proctype Task() {
    byte got = 0;
    byte last = 0;
    byte old;
    do
    :: last == N -> break
    :: else ->
        /* Message::Waiter: await_ready, then EventCore::Waiter::await_suspend */
        atomic {
            if
            :: (core & SET) -> ok_now = true
            :: else -> core = core | WAITING; waiter = true; ok_now = false
            fi
        }
        if
        :: ok_now -> skip
        :: else ->
            do
            :: woken -> woken = false; break
            :: else ->
                if
                :: posted -> posted = false; queued = false; on_notify()
                :: else ->
                    /* the loop's sleep step (loop_wake.pml), where the task
                     * may validly stay once nothing more comes */
                    sleeping[0] = true;
                    if
                    :: posted -> sleeping[0] = false
                    :: else ->
end_asleep:             (eventfd[0] > 0); eventfd[0] = 0; sleeping[0] = false
                    fi
                fi
            od
        fi;
        /* Message::Waiter::await_resume: wait out a publish, read the latest */
        (publishing == 0);
        got = msg;
        assert(got >= last);
        last = got;
        /* Message::clear() */
        msg_set = false;
        core = core & ~SET;                              /* then fence F4 */
#ifndef MUTANT_CLEAR_NO_RERAISE
        if
        :: publishing != 0 || msg_set -> core_set(old)
        :: else -> skip
        fi
#endif
    od
}

/* A lost wake-up: the setter is done, the message is set, and the task sleeps
 * with nothing posted that could wake it. */
active proctype Monitor() {
end_watch:
    atomic {
        setter_done && msg_set && waiter && !woken && sleeping[0] && !posted && eventfd[0] == 0 ->
        assert(false)
    }
}
#else
active proctype Task() {
    byte got = 0;
    byte last = 0;
    bool ok;
    do
    :: last == N -> break
    :: else ->
        /* NextWaiter::await_ready */
        take_if_set(ok);
        if
        :: ok -> goto have
        :: else -> skip
        fi;
        core = core & ~SET;                              /* core_.clear(), then fence F4 */
#ifdef MUTANT_NO_INFLIGHT_WAIT
        take_if_set(ok);
        if
        :: ok -> goto have
        :: else -> skip
        fi;
#else
        do
        :: true ->
            take_if_set(ok);
            if
            :: ok -> goto have
            :: else -> skip
            fi;
            if
            :: publishing == 0 ->
                take_if_set(ok);
                if
                :: ok -> goto have
                :: else -> break
                fi
            :: else -> skip
            fi
        od;
#endif
        /* NextWaiter::await_suspend -> EventCore::Waiter::await_suspend */
        atomic {
            if
            :: (core & SET) -> ok = true                 /* set meanwhile: do not suspend */
            :: else -> core = core | WAITING; waiter = true; ok = false
            fi
        }
        if
        :: ok -> take_published(); goto have
        :: else -> skip
        fi;
        /* suspended: the loop runs posted work, or sleeps */
        do
        :: woken -> woken = false; break
        :: else ->
            if
            :: posted -> posted = false; queued = false; on_notify()
            :: else -> sleep_unless(0, posted)
            fi
        od;
        /* NextWaiter::await_resume */
        take_published();
have:
        assert(got > last);                              /* a newer set, never the same twice */
        last = got
    od
}
#endif
