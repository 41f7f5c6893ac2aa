/* SPDX-License-Identifier: BSL-1.0 */
/* ThreadSafeQueue's protocol (include/asynclink/thread_safe_queue.hpp: push,
 * pop, ready, arm, take_waiter, close, on_wake, block_until), without a
 * locked instruction per item (docs/benchmarks.md, "The queue rows against
 * the raw ceiling").
 *
 * Each end publishes its index with a plain store and then reads the other
 * side's "waiting" flag with a plain load: a store then a load, which x86-TSO
 * (and ARM) may reorder, so a side about to sleep pays for both: it sets its
 * flag, calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (every CPU running
 * a thread of the process passes a full fence during the call) and looks once
 * more. close() from a third context needs more, because a producer can be
 * preempted between "not closed" and its publishing store: the producer marks
 * its tail BUSY before it reads the closed flag and clears the mark with the
 * publishing store; a consumer that sees closed and an empty queue calls
 * membarrier and ends only if the tail is not BUSY (else it waits; the
 * producer's next tail store is followed by its look at the flag).
 *
 * Unlike the other models here, this one has weak memory: each thread's plain
 * stores go to a FIFO store buffer of B entries that drains to memory at any
 * moment (x86-TSO); a load reads its own buffer's newest entry for the word,
 * else memory; a locked RMW and a futex call first drain the caller's buffer;
 * membarrier waits for an instant at which every buffer is empty. close() is
 * seq_cst RMWs (its buffer is empty at each).
 *
 * Each end is a thread (put_sync / get_sync blocking on a futex) or a task
 * on a loop of its own (co_await put / get: the taker of its flag posts the
 * end's node, whose on_wake looks, arms and looks again; loop_wake.pml).
 * Checked: every item whose put returned ok arrives, once, in order; the
 * consumer ends only after it has every such item; no lost wake-up or
 * deadlock (no invalid end state).
 * Switches: -DASYNC_CONSUMER (the consumer is a task on loop 0),
 *           -DCONSUMER_CLOSES (the consumer takes one item and closes,
 *            while the producer may be waiting for room: it must end),
 *           -DMUTANT_CLOSE_READS_FLAG (with CONSUMER_CLOSES: close() reads
 *            the producer's flag instead of taking it, so a producer about
 *            to block on it sleeps through the wake-up; must fail),
 *           -DASYNC_PRODUCER (the producer is a task on loop 1),
 *           -DCLOSER (a third context closes at any moment; else the producer
 *            closes after its N items),
 *           -DMUTANT_CONSUMER_OWN_FENCE_ONLY (the consumer arms with a full
 *            fence of its own instead of membarrier: a store-buffering lost
 *            wake-up; must fail),
 *           -DMUTANT_PRODUCER_OWN_FENCE_ONLY (the same on the producer's
 *            wait for room; must fail),
 *           -DMUTANT_NO_BUSY (with CLOSER: the producer does not mark its
 *            tail busy, so a put preempted after "not closed" publishes after
 *            the consumer has ended: an accepted item is lost; must fail),
 *           -DMUTANT_END_WITHOUT_MEMBARRIER (with CLOSER: the consumer ends on
 *            closed-and-empty without membarrier; must fail),
 *           -DMUTANT_CLOSED_PUSH_NO_LOOK (with CLOSER: a put that finds the
 *            queue closed clears BUSY without looking at the consumer's flag,
 *            and a consumer waiting for that BUSY to clear sleeps forever;
 *            must fail),
 *           -DSEQUENTIALLY_CONSISTENT (stores go straight to memory: with
 *            the OWN_FENCE_ONLY mutants this verifies, which shows their
 *            failure is the store buffers'),
 *           -DADAPTIVE (the fence modes, FenceMode in thread_safe_queue.hpp:
 *            a word FENCES, 0 asymmetric, 1 switching, 2 symmetric; a
 *            publisher reads it after its store and fences unless it is 0; a
 *            sleeper fences on its own if it is 2 and calls membarrier
 *            otherwise; an end that arms while it is 0 may switch: store 1,
 *            membarrier, store 2),
 *           -DMUTANT_SWITCH_WITHOUT_MEMBARRIER (with ADAPTIVE: the switch
 *            stores 2 at once and fences on its own; must fail),
 *           -DMUTANT_PUBLISH_FENCE_ONLY_WHEN_SYMMETRIC (with ADAPTIVE: a
 *            publisher that reads 1 does not fence; must fail).
 * A sleeper that trusts mode 1 is not a mutant this model catches: with two
 * ends under TSO, a sleeper reads 1 only from the other end's switch, whose
 * store of 1 follows that end's earlier stores in its FIFO buffer. The code
 * does not rely on it (a third context, or ARM's non-FIFO stores). */

#include "loop_wake.pml"

#ifndef C
#define C 2                 /* capacity (-DC=1: a full queue after one put) */
#endif
#define N 3                 /* items */
#define B 3                 /* store buffer entries per thread: one put's stores */
#define BUSY 1              /* tail = index * 2 + BUSY */
#define IDX(t) ((t) / 2)
#define NEXT(i) (((i) + 1) % (2 * C))
#define DIST(h, t) (((t) + 2 * C - (h)) % (2 * C))

/* Memory words. */
#define TAIL 0              /* written by the producer only */
#define HEAD 1              /* written by the consumer only */
#define CW 2                /* consumer waiting */
#define PW 3                /* producer waiting */
#define CLOSED 4
#define SLOT 5              /* SLOT + 0 .. SLOT + C - 1 */
#define FENCES 7            /* ADAPTIVE: the fence mode */
#define WORDS 8
byte mem[WORDS];

/* Store buffers: thread 0 the producer, 1 the consumer. */
byte bword[2 * B];
byte bvalue[2 * B];
byte blen[2];

bool c_parked = false;      /* consumer thread asleep in futex_wait(CW, 1) */
bool p_parked = false;      /* producer thread asleep in futex_wait(PW, 1) */
bool c_queued = false; bool c_posted = false;   /* the consumer end's node (loop 0) */
bool p_queued = false; bool p_posted = false;   /* the producer end's node (loop 1) */
byte accepted = 0;          /* puts that returned ok */
byte taken = 0;             /* items the consumer received */
bool p_done = false;
bool c_done = false;

inline st(P, x, v) {
#ifdef SEQUENTIALLY_CONSISTENT
    mem[x] = v
#else
    atomic {
        blen[P] < B;
        bword[P * B + blen[P]] = x;
        bvalue[P * B + blen[P]] = v;
        blen[P]++
    }
#endif
}

inline ld(P, x, out) {
    atomic {
        out = mem[x];
        i = 0;
        do
        :: i < blen[P] ->
            if
            :: bword[P * B + i] == x -> out = bvalue[P * B + i]
            :: else -> skip
            fi;
            i++
        :: else -> break
        od;
        i = 0
    }
}

/* A full fence of the caller's own (mfence; also what a locked RMW does). */
inline fence(P) {
    blen[P] == 0
}

/* exchange(x, v) -> old: a locked instruction. */
inline xchg(P, x, v, old) {
    atomic {
        blen[P] == 0;
        old = mem[x];
        mem[x] = v
    }
}

/* membarrier(PRIVATE_EXPEDITED): the caller's fences around the call, and an
 * instant at which the other thread has passed a full fence. */
inline membarrier(P) {
    atomic {
        blen[0] == 0 && blen[1] == 0
    }
}

/* ADAPTIVE: the fence between a publisher's store and its next look
 * (ThreadSafeQueue::publish_fence); without it, none (a compiler barrier). */
inline publish_fence(P) {
#ifdef ADAPTIVE
    ld(P, FENCES, m);
    if
#ifdef MUTANT_PUBLISH_FENCE_ONLY_WHEN_SYMMETRIC
    :: m == 2 -> fence(P)
#else
    :: m != 0 -> fence(P)
#endif
    :: else -> skip
    fi
#else
    skip
#endif
}

/* The sleeper's fence (ThreadSafeQueue::sleep_fence): membarrier, or with
 * ADAPTIVE in mode 2 a fence of its own. */
inline sleep_fence(P) {
#ifdef ADAPTIVE
    ld(P, FENCES, m);
    if
    :: m == 2 -> fence(P)
    :: else -> membarrier(P)
    fi
#else
    membarrier(P)
#endif
}

/* What a side going to sleep calls between arming and its last look
 * (ThreadSafeQueue::arm): with ADAPTIVE, in mode 0 it may switch modes. */
inline arm_fence(P) {
#ifdef ADAPTIVE
    ld(P, FENCES, m);
    if
    :: m == 0 ->
#ifdef MUTANT_SWITCH_WITHOUT_MEMBARRIER
        st(P, FENCES, 2); fence(P)
#else
        st(P, FENCES, 1); membarrier(P); st(P, FENCES, 2)
#endif
    :: true -> sleep_fence(P)
    fi
#else
    sleep_fence(P)
#endif
}
inline producer_barrier() {
#ifdef MUTANT_PRODUCER_OWN_FENCE_ONLY
    fence(0)
#else
    arm_fence(0)
#endif
}
inline consumer_barrier() {
#ifdef MUTANT_CONSUMER_OWN_FENCE_ONLY
    fence(1)
#else
    arm_fence(1)
#endif
}

/* futex_wait(x, expected): sleeps unless the word differs, checked with the
 * sleep; the system call drains the caller's buffer first. */
inline futex_wait(P, x, expected, parked) {
    atomic {
        blen[P] == 0;
        if
        :: mem[x] == expected -> parked = true
        :: else -> skip
        fi
    }
    !parked
}

/* The other side took our flag: futex_wake, or post the end's node to the
 * loop of its task (loop_wake.pml; RMWs, after the taking RMW drained the
 * buffer). */
inline wake_consumer() {
#ifdef ASYNC_CONSUMER
    notify(0, c_queued, c_posted)
#else
    c_parked = false
#endif
}
inline wake_producer() {
#ifdef ASYNC_PRODUCER
    notify(1, p_queued, p_posted)
#else
    p_parked = false
#endif
}

/* After every store that moves the tail or clears BUSY: the consumer may
 * wait for exactly that. A plain load; the RMW only if the flag is up. */
inline producer_looks() {
    ld(0, CW, w);
    if
    :: w ->
        xchg(0, CW, 0, old);
        if
        :: old -> wake_consumer()
        :: else -> skip
        fi
    :: else -> skip
    fi
}

inline consumer_looks() {
    ld(1, PW, w);
    if
    :: w ->
        xchg(1, PW, 0, old);
        if
        :: old -> wake_producer()
        :: else -> skip
        fi
    :: else -> skip
    fi
}

inline close_queue(P) {
    xchg(P, CLOSED, 1, old);
    xchg(P, CW, 0, old);
    if
    :: old -> wake_consumer()
    :: else -> skip
    fi;
#ifdef MUTANT_CLOSE_READS_FLAG
    atomic { blen[P] == 0; old = mem[PW] };
#else
    xchg(P, PW, 0, old);
#endif
    if
    :: old -> wake_producer()
    :: else -> skip
    fi
}

proctype flusher(byte P) {
    byte k;
end:
    do
    :: atomic {
        blen[P] > 0 ->
        mem[bword[P * B]] = bvalue[P * B];
        k = 0;
        do
        :: k + 1 < blen[P] ->
            bword[P * B + k] = bword[P * B + k + 1];
            bvalue[P * B + k] = bvalue[P * B + k + 1];
            k++
        :: else -> break
        od;
        blen[P]--;
        k = 0
    }
    od
}

proctype producer() {
    byte k = 0;             /* items put */
    byte t;                 /* the tail as this producer wrote it last */
    byte h, c, w, old, i, m;
    byte r;                 /* 0 ok, 1 full, 2 closed */
    bool p_woken;
    do
    :: k < N ->
        ld(0, HEAD, h);
        if
        :: DIST(h, IDX(t)) == C ->
            ld(0, CLOSED, c);
            r = (c -> 2 : 1)
        :: else ->
#ifndef MUTANT_NO_BUSY
            st(0, TAIL, t + BUSY);
            publish_fence(0);
#endif
            ld(0, CLOSED, c);
            if
            :: c ->
#ifndef MUTANT_NO_BUSY
                st(0, TAIL, t);
                publish_fence(0);
#endif
#ifndef MUTANT_CLOSED_PUSH_NO_LOOK
                producer_looks();
#endif
                r = 2
            :: else ->
                st(0, SLOT + IDX(t) % C, k + 1);
                t = NEXT(IDX(t)) * 2;
                st(0, TAIL, t);
                publish_fence(0);
                producer_looks();
                r = 0
            fi
        fi;
        if
        :: r == 0 -> k++; accepted++
        :: r == 2 -> break
        :: r == 1 ->
            /* Wait for room: arm, membarrier, look once more. */
            st(0, PW, 1);
            producer_barrier();
            ld(0, HEAD, h);
            ld(0, CLOSED, c);
            if
            :: DIST(h, IDX(t)) < C || c -> st(0, PW, 0)     /* disarm: a plain store */
            :: else ->
#ifdef ASYNC_PRODUCER
                /* The task is parked; loop 1 runs the end's node when it is
                 * posted (on_wake: a plain look, then arm, membarrier and
                 * look again), and sleeps otherwise. */
                p_woken = false;
                do
                :: p_woken -> break
                :: else ->
                    if
                    :: p_posted ->
                        p_posted = false; p_queued = false;
                        ld(0, HEAD, h);
                        ld(0, CLOSED, c);
                        if
                        :: DIST(h, IDX(t)) < C || c -> p_woken = true
                        :: else ->
                            st(0, PW, 1);
                            producer_barrier();
                            ld(0, HEAD, h);
                            ld(0, CLOSED, c);
                            if
                            :: DIST(h, IDX(t)) < C || c -> st(0, PW, 0); p_woken = true
                            :: else -> skip
                            fi
                        fi
                    :: else -> skip
                    fi;
                    if
                    :: p_woken -> skip
                    :: else -> fence(0); sleep_unless(1, p_posted)
                    fi
                od
#else
                futex_wait(0, PW, 1, p_parked)
#endif
            fi
        fi
    :: else -> break
    od;
#ifndef CLOSER
    close_queue(0);
#endif
    p_done = true
}

proctype consumer() {
    byte h = 0;             /* the head index, this end's own */
    byte t, c, v, w, old, i, m;
    bool c_woken;
    do
    :: ld(1, TAIL, t);
        if
        :: IDX(t) != h ->
            ld(1, SLOT + h % C, v);
            assert(v == taken + 1);      /* once, in order */
            taken++;
            h = NEXT(h);
            st(1, HEAD, h);
            publish_fence(1);
            consumer_looks()
#ifdef CONSUMER_CLOSES
            ; close_queue(1); break       /* the consumer stops */
#endif
        :: else ->
            ld(1, CLOSED, c);
            if
            :: c ->
#ifndef MUTANT_END_WITHOUT_MEMBARRIER
                sleep_fence(1);
#endif
                ld(1, TAIL, t);
                if
                :: IDX(t) != h -> skip          /* an item: take it */
                :: IDX(t) == h && (t & BUSY) == 0 -> break   /* the end */
                :: else -> skip                 /* a put in flight: wait below */
                fi
            :: else -> skip
            fi;
            if
            :: IDX(t) == h && (c == 0 || (t & BUSY) != 0) ->
                /* Wait: arm, membarrier, look once more. */
                st(1, CW, 1);
                consumer_barrier();
                ld(1, TAIL, t);
                ld(1, CLOSED, c);
                if
                :: IDX(t) != h || (c && (t & BUSY) == 0) -> st(1, CW, 0)    /* disarm */
                :: else ->
#ifdef ASYNC_CONSUMER
                    c_woken = false;
                    do
                    :: c_woken -> break
                    :: else ->
                        if
                        :: c_posted ->
                            c_posted = false; c_queued = false;
                            ld(1, TAIL, t);
                            ld(1, CLOSED, c);
                            if
                            :: IDX(t) != h || (c && (t & BUSY) == 0) -> c_woken = true
                            :: else ->
                                st(1, CW, 1);
                                consumer_barrier();
                                ld(1, TAIL, t);
                                ld(1, CLOSED, c);
                                if
                                :: IDX(t) != h || (c && (t & BUSY) == 0) -> st(1, CW, 0); c_woken = true
                                :: else -> skip
                                fi
                            fi
                        :: else -> skip
                        fi;
                        if
                        :: c_woken -> skip
                        :: else -> fence(1); sleep_unless(0, c_posted)
                        fi
                    od
#else
                    futex_wait(1, CW, 1, c_parked)
#endif
                fi
            :: else -> skip
            fi
        fi
    od;
    c_done = true
}

#ifdef CLOSER
proctype closer() {
    byte old;
    /* A third context: no plain stores, so no buffer; close() is seq_cst RMWs. */
    atomic { old = mem[CLOSED]; mem[CLOSED] = 1 };
    atomic { old = mem[CW]; mem[CW] = 0 };
    if
    :: old -> wake_consumer()
    :: else -> skip
    fi;
    atomic { old = mem[PW]; mem[PW] = 0 };
    if
    :: old -> wake_producer()
    :: else -> skip
    fi
}
#endif

/* Once both ends are done: every accepted item arrived. */
active proctype check() {
    (p_done && c_done);
#ifndef CONSUMER_CLOSES
    assert(taken == accepted)
#endif
}

init {
    atomic {
        run flusher(0);
        run flusher(1);
        run producer();
        run consumer();
#ifdef CLOSER
        run closer();
#endif
    }
}
