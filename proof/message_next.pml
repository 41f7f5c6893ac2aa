/* SPDX-License-Identifier: BSL-1.0 */
/* Message<T, 2> (include/asynclink/message.hpp): two setters (two contexts
 * setting at the same moment, the Setters bound), a third context calling
 * clear(), and one task iterating with next(). Mirrors claim_slot(), the
 * fill of the slot, publish(), the ring of the doorbell (EventCore::set),
 * Message::clear(), NextWaiter (take_if_set, clear_doorbell + second look,
 * the EventCore wait, the on_ring filter on the loop) and copy_out() with
 * its pin. EventCore is modelled with its set/waiting bits and an epoch
 * (modulo 4) for the one waiter.
 * Checked:
 *   - a setter always finds a free slot at once (an assertion in the claim);
 *   - no slot is written while the loop copies from it, and no copy reads a
 *     slot being filled (assertions around the copy);
 *   - next() never returns the same set() twice (each set has its own id);
 *   - no lost wake-up: once the setters are done, the task never sleeps for
 *     good while the message is set (a monitor);
 *   - the loop never waits for a setter: a setter may stop for good between
 *     any two of its steps (preempted forever), and the task then blocks
 *     only in the loop's sleep, a valid end state (anything else is an
 *     invalid end state).
 * -DWAIT_CLEAR: the task reads with co_await m, then m.clear() (the seed's
 * usual pattern; Message::Waiter and Message::clear); checked: no lost
 * wake-up and the loop never waits.
 * Mutants (each must fail):
 *   MUTANT_RING_BEFORE_PUBLISH  the doorbell rings before the publication
 *                               (the order before 0.2.0, without its wait)
 *   MUTANT_NO_SECOND_LOOK       a reader clears the doorbell and sleeps
 *                               without looking at the message again
 *   MUTANT_CLAIM_IGNORES_PIN    a setter may claim the slot the loop copies from
 *   MUTANT_WAIT_FOR_SETTER      the reader waits out a set() in flight (the
 *                               publishing_ spin before 0.2.0) */
#include "loop_wake.pml"

#define SLOTS 4            /* Setters + 2 */
#define NONE 4
#define SET 1
#define WAITING 2
#define EPOCH 4
#define EPOCHS 4

/* Message::slots_state_ */
byte cur = NONE;
byte pin = NONE;
bool busy[SLOTS];
bool mset = false;
/* the slots: the id of the set() whose value each holds, and whether a setter is filling it */
byte slot_val[SLOTS];
bool filling[SLOTS];
byte in_flight = 0;        /* set() calls between claim and publication (MUTANT_WAIT_FOR_SETTER) */

/* EventCore: the doorbell, and the one waiter */
byte core = 0;             /* set, waiting, epoch * 4 (mod EPOCHS) */
bool queued = false;
bool posted = false;
bool listed = false;       /* the task in waiters_ */
byte rec_epoch = 0;        /* its epoch_ */
bool woken = false;

byte setters_done = 0;

/* EventCore::set(). */
inline ring() {
    atomic {
        old = core;
        if
        :: (old & SET) -> skip
        :: else -> core = (((old & ~WAITING) + EPOCH) % (EPOCH * EPOCHS)) | SET
        fi
    }
    if
    :: !(old & SET) && (old & WAITING) -> notify(0, queued, posted)
    :: else -> skip
    fi
}

/* A point where a setter may be preempted for good. */
#define MAY_STOP(k) if :: true -> skip :: true -> end_stopped##k: false fi

proctype Setter(byte first_id; byte sets) {
    byte n = 0;
    byte i;
    byte old;
    do
    :: n < sets ->
        /* claim_slot(): one CAS; the lowest slot no one holds */
        atomic {
            i = 0;
            do
#ifdef MUTANT_CLAIM_IGNORES_PIN
            :: i < SLOTS && (busy[i] || i == cur) -> i++
#else
            :: i < SLOTS && (busy[i] || i == cur || i == pin) -> i++
#endif
            :: else -> break
            od;
            assert(i < SLOTS);                    /* a free slot, at once */
            busy[i] = true;
            in_flight++
        }
        MAY_STOP(1);
        /* the fill: not atomic; the value of the slot changes */
        filling[i] = true;
        slot_val[i] = first_id + n;
        filling[i] = false;
#ifdef MUTANT_RING_BEFORE_PUBLISH
        ring();
        MAY_STOP(2);
        atomic { cur = i; mset = true; busy[i] = false; in_flight-- };
#else
        atomic { cur = i; mset = true; busy[i] = false; in_flight-- };   /* publish(), then F3 */
        MAY_STOP(2);
        ring();
#endif
        n++
    :: else -> break
    od;
    setters_done++
}

active proctype Clearer() {
    mset = false                                 /* Message::clear() */
}

/* take_if_set(): clear the message bit and pin the current slot, one step. */
inline take_if_set() {
    atomic {
        if
        :: mset -> mset = false; pin = cur; took = true
        :: else -> took = false
        fi
    }
}

/* clear_doorbell(), fence F4, then the second look. */
inline clear_doorbell() {
    core = core & ~SET
}

/* NextWaiter::try_take(). */
inline try_take() {
    take_if_set();
    if
    :: !took ->
        clear_doorbell();
#ifndef MUTANT_NO_SECOND_LOOK
        take_if_set()
#endif
    :: else -> skip
    fi
}

/* copy_out(pin): the copy is not atomic; the slot must not change under it. */
inline copy_out() {
    assert(pin != NONE && !filling[pin]);
    got = slot_val[pin];
    assert(!filling[pin] && slot_val[pin] == got);
    pin = NONE                                   /* unpin */
}

#ifdef MUTANT_WAIT_FOR_SETTER
#define WAIT_OUT_SETTERS (in_flight == 0)
#else
#define WAIT_OUT_SETTERS skip
#endif

/* EventCore::on_notify for the one waiter, with NextWaiter::on_ring as its filter. */
inline on_notify() {
    do
    :: true ->
        snap = core;
        if
        :: listed && ((snap & SET) || ((snap / EPOCH) % EPOCHS) != rec_epoch) ->
#ifdef WAIT_CLEAR
            listed = false; woken = true
#else
            /* on_ring: take, or keep waiting from the current epoch */
            do
            :: true ->
                try_take();
                if
                :: took -> listed = false; woken = true; break
                :: else ->
                    atomic {
                        if
                        :: !(core & SET) -> rec_epoch = (core / EPOCH) % EPOCHS; ok = true
                        :: else -> ok = false
                        fi
                    }
                    if :: ok -> break :: else -> skip fi
                fi
            od
#endif
        :: else -> skip
        fi;
        if
        :: !listed -> break
        :: else ->
            atomic {
                if
                :: (snap & WAITING) -> ok = true
                :: core == snap -> core = core | WAITING; ok = true
                :: else -> ok = false
                fi
            }
            if :: ok -> break :: else -> skip fi
        fi
    od
}

/* EventCore::Waiter::await_suspend: false if the doorbell is up (do not suspend). */
inline suspend() {
    atomic {
        if
        :: (core & SET) -> ok = false
        :: else -> rec_epoch = (core / EPOCH) % EPOCHS; listed = true; ok = true
        fi
    }
    if
    :: ok ->
        atomic {
            if
            :: (core & WAITING) -> skip
            :: !(core & SET) && ((core / EPOCH) % EPOCHS) == rec_epoch -> core = core | WAITING
            :: else -> listed = false; ok = false
            fi
        }
    :: else -> skip
    fi
}

/* Parked: the loop runs posted work or sleeps, until the task is woken. */
inline parked() {
    do
    :: woken -> woken = false; break
    :: else ->
        if
        :: posted -> posted = false; queued = false; on_notify()
        :: else ->
            sleeping[0] = true;
            if
            :: posted -> sleeping[0] = false
            :: else ->
end_asleep:     (eventfd[0] > 0); eventfd[0] = 0; sleeping[0] = false
            fi
        fi
    od
}

active proctype Task() {
    byte got;
    byte snap;
    bool took;
    bool ok;
    byte seen = 0;                               /* a bit per set id returned */
    do
    :: true ->
#ifdef WAIT_CLEAR
        /* Message::Waiter: await_ready */
        if
        :: mset -> skip
        :: else ->
            clear_doorbell();
            WAIT_OUT_SETTERS;
#ifndef MUTANT_NO_SECOND_LOOK
            if
            :: mset -> goto read
            :: else -> skip
            fi;
#endif
            suspend();
            if
            :: ok -> parked()
            :: else -> skip                      /* rung since the clear: a set() ran */
            fi
        fi;
read:
        /* await_resume: copy the latest (pin_latest + copy_out), then clear() */
        atomic { assert(cur != NONE); pin = cur };
        copy_out();
        mset = false
#else
        /* NextWaiter::await_ready */
        try_take();
        WAIT_OUT_SETTERS;
        do
        :: took -> break
        :: else ->
            /* await_suspend's loop */
            suspend();
            if
            :: ok -> parked(); break             /* woken by on_ring with a slot taken */
            :: else -> try_take()                /* rung: take or look again */
            fi
        od;
        /* await_resume */
        copy_out();
        assert((seen & (1 << got)) == 0);        /* never the same set twice */
        seen = seen | (1 << got)
#endif
    od
}

/* A lost wake-up: the setters are done, the message is set, and the task
 * sleeps with nothing posted that could wake it. */
active proctype Monitor() {
end_watch:
    atomic {
        setters_done == 2 && mset && listed && !woken && sleeping[0] && !posted && eventfd[0] == 0 ->
        assert(false)
    }
}

init {
    atomic {
        run Setter(0, 2);                        /* ids 0, 1 */
        run Setter(2, 1)                         /* id 2: three sets keep the search small */
    }
}
