/* SPDX-License-Identifier: BSL-1.0 */
/* ThreadSafeQueue (include/asynclink/thread_safe_queue.hpp): one producer, one
 * consumer, each end either a thread that parks on a futex (put_sync/get_sync
 * with block = true) or a task on a loop (co_await put/get), capacity C, N items,
 * then close(). Checked: every item arrives, once, in order, then the end
 * marker; no lost wake-up or deadlock on the full and empty waits (no invalid
 * end state); the waiting-bit handshake on one word per side.
 * Switches: -DASYNC_CONSUMER (consumer is a task on loop 0),
 *           -DASYNC_PRODUCER (producer is a task on loop 1),
 *           -DMUTANT_SPLIT_PUBLISH (a broken producer that reads the word and
 *            then stores the new index, instead of one CAS: a waiting bit set in
 *            between is wiped without a wake-up; verification must fail),
 *           -DCLOSER (close() races push: a third context closes at any
 *            moment; the producer stops at QueueClosed; every item whose put
 *            succeeded arrives, once, in order, then the end marker),
 *           -DMUTANT_PUSH_IGNORES_CLOSE (with CLOSER: a push whose publishing
 *            CAS keeps the closed bit instead of failing on it, so a put after
 *            close() succeeds and its item can be lost; must fail),
 *           -DCONSUMER_CLOSES (the consumer closes after any item and stops
 *            reading, as ConsumerClosesWhileTheProducerIsBlockedOnAFullQueue
 *            does: the producer, blocked on the full queue, must still end,
 *            and every item it put is taken or still queued),
 *           -DMUTANT_CLOSE_READS_BIT (with CONSUMER_CLOSES: close() reads the
 *            producer's waiting bit instead of taking it, so a producer about
 *            to park on an unchanged head sleeps through the wake; must fail). */
#include "loop_wake.pml"

#define C 2
#define N 4
#define W 4            /* word = index * W + flags */
#define WAITING 1
#define CLOSED 2
#define IDX(w) ((w) / W)
#define NEXT(i) (((i) + 1) % (2 * C))
#define DIST(h, t) (((t) + 2 * C - (h)) % (2 * C))

byte tail = 0;         /* the tail (producer_.word): index, closed, consumer waiting */
byte head = 0;         /* the head (consumer_.word): index, producer waiting */
byte slot[C];
bool c_parked = false; /* consumer thread asleep in futex_wait(tail) */
bool p_parked = false; /* producer thread asleep in futex_wait(head) */
bool c_queued = false; bool c_posted = false;   /* consumer_node_: queued, posted (loop 0) */
bool p_queued = false; bool p_posted = false;   /* producer_node_: queued, posted (loop 1) */
bool c_waiter = false; bool c_woken = false;
bool p_waiter = false; bool p_woken = false;
byte accepted = 0;     /* puts that returned ok */
byte taken = 0;        /* items the consumer received */
bool p_done = false; bool c_done = false;

inline wake_consumer() {
#ifdef ASYNC_CONSUMER
    notify(0, c_queued, c_posted)
#else
    c_parked = false   /* futex wake on tail */
#endif
}
inline wake_producer() {
#ifdef ASYNC_PRODUCER
    notify(1, p_queued, p_posted)
#else
    p_parked = false
#endif
}

/* push(): 0 ok, 1 full, 2 closed */
inline push(v, r) {
    if
    :: (tail & CLOSED) -> r = 2
    :: DIST(IDX(head), IDX(tail)) == C -> r = 1
    :: else ->
        slot[IDX(tail) % C] = v;
#ifdef MUTANT_SPLIT_PUBLISH
        old = tail;
        tail = NEXT(IDX(old)) * W + (old & CLOSED);
        r = 0
#elif defined(MUTANT_PUSH_IGNORES_CLOSE)
        atomic { old = tail; tail = NEXT(IDX(tail)) * W + (tail & CLOSED) };
        r = 0
#else
        atomic {
            /* The publishing CAS loop: it takes the waiting bit, and fails once
             * close() has set the closed bit (the item goes back to the caller). */
            if
            :: (tail & CLOSED) -> r = 2
            :: else -> old = tail; tail = NEXT(IDX(tail)) * W; r = 0
            fi
        }
#endif
        if
        :: r == 0 && (old & WAITING) -> wake_consumer()
        :: else -> skip
        fi
    fi
}

/* close(): set the closed bit and wake a waiting consumer; then take the
 * producer's bit (the change of head stops a producer about to park on it)
 * and wake it if it was set. */
inline close() {
    atomic { cold = tail; tail = tail | CLOSED }
    if
    :: (cold & WAITING) -> wake_consumer()
    :: else -> skip
    fi;
#ifdef MUTANT_CLOSE_READS_BIT
    cold = head;
#else
    atomic { cold = head; head = head & ~WAITING }
#endif
    if
    :: (cold & WAITING) -> wake_producer()
    :: else -> skip
    fi
}

inline pop(v, r) {
    if
    :: IDX(head) == IDX(tail) -> r = 1
    :: else ->
        v = slot[IDX(head) % C];
        atomic { oldh = head; head = NEXT(IDX(head)) * W }
        if
        :: (oldh & WAITING) -> wake_producer()
        :: else -> skip
        fi;
        r = 0
    fi
}

#define HAS_ROOM(h) (DIST(IDX(h), IDX(tail)) < C)

active proctype Producer() {
    byte i = 1; byte r = 0; byte h; byte old; byte cold;
    do
    :: i > N -> break
    :: else ->
        push(i, r);
        if
        :: r == 0 -> i++; accepted++
        :: r == 2 -> break                /* QueueClosed: the item stays with us */
        :: else ->
            /* full: arm head, re-check, sleep */
#ifdef ASYNC_PRODUCER
            p_waiter = true;
#endif
            atomic { h = head; head = head | WAITING }
            if
            :: HAS_ROOM(h) || (tail & CLOSED) ->
                head = head & ~WAITING;
#ifdef ASYNC_PRODUCER
                p_waiter = false
#endif
            :: else ->
#ifdef ASYNC_PRODUCER
                /* the task is parked; loop 1 runs until the producer node wakes it */
                do
                :: p_woken -> p_woken = false; break
                :: else ->
                    if
                    :: p_posted -> p_posted = false; p_queued = false;
                        /* on_producer_notify: re-arm and check */
                        if
                        :: p_waiter ->
                            atomic { h = head; head = head | WAITING }
                            if
                            :: HAS_ROOM(h) || (tail & CLOSED) -> head = head & ~WAITING; p_waiter = false; p_woken = true
                            :: else -> skip
                            fi
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi;
                    if
                    :: p_woken -> skip
                    :: else -> sleep_unless(1, p_posted)
                    fi
                od
#else
                atomic {                  /* futex_wait(head, h | WAITING) */
                    if
                    :: head == (h | WAITING) -> p_parked = true
                    :: else -> skip
                    fi
                }
                (!p_parked)
#endif
            fi
        fi
    od;
    /* The end of the stream; in CLOSER and CONSUMER_CLOSES the other
     * close() may race this one (close is idempotent, from any context). */
    if
    :: r != 2 -> close()
    :: else -> skip
    fi;
    p_done = true
}

#ifdef CLOSER
active proctype Closer() {
    byte cold;
    close()
}
#endif

/* Once both ends are done: every item put is accounted for. */
active proctype Accounting() {
    (p_done && c_done);
#ifdef CONSUMER_CLOSES
    assert(taken + DIST(IDX(head), IDX(tail)) == accepted)
#else
    assert(taken == accepted)
#endif
}

active proctype Consumer() {
    byte expect = 1; byte v; byte r; byte t; byte oldh; byte cold;
    do
    :: true ->
        pop(v, r);
        if
        :: r == 0 -> assert(v == expect); expect++; taken++;
#ifdef CONSUMER_CLOSES
            if
            :: true -> close(); break     /* close and stop reading */
            :: true -> skip
            fi
#else
            skip
#endif
        :: else ->
            if
            :: (tail & CLOSED) && IDX(head) == IDX(tail) -> break   /* closed and drained: end marker */
            :: else ->
#ifdef ASYNC_CONSUMER
                c_waiter = true;
#endif
                atomic { t = tail; tail = tail | WAITING }
                if
                :: IDX(t) != IDX(head) || (t & CLOSED) ->
                    tail = tail & ~WAITING;
#ifdef ASYNC_CONSUMER
                    c_waiter = false
#endif
                :: else ->
#ifdef ASYNC_CONSUMER
                    do
                    :: c_woken -> c_woken = false; break
                    :: else ->
                        if
                        :: c_posted -> c_posted = false; c_queued = false;
                            if
                            :: c_waiter ->
                                atomic { t = tail; tail = tail | WAITING }
                                if
                                :: IDX(t) != IDX(head) || (t & CLOSED) -> tail = tail & ~WAITING; c_waiter = false; c_woken = true
                                :: else -> skip
                                fi
                            :: else -> skip
                            fi
                        :: else -> skip
                        fi;
                        if
                        :: c_woken -> skip
                        :: else -> sleep_unless(0, c_posted)
                        fi
                    od
#else
                    atomic {
                        if
                        :: tail == (t | WAITING) -> c_parked = true
                        :: else -> skip
                        fi
                    }
                    (!c_parked)
#endif
                fi
            fi
        fi
    od;
#if !defined(CLOSER) && !defined(CONSUMER_CLOSES)
    assert(expect == N + 1);
#endif
    c_done = true
}
