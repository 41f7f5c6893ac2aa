/* SPDX-License-Identifier: BSL-1.0 */
/* ThreadSafeQueue<T, many_producers> (include/asynclink/many_producer_queue.hpp):
 * a thread producer A (2 items) and a second producer B (1 item; a thread,
 * or with -DASYNC_PRODUCER a task on loop 1) put with waiting puts; an
 * interrupt handler I puts 1 item with try_put, preempting either of them at
 * any point (its put runs as one atomic step: nothing runs on its core until
 * it returns), so it also lands between another producer's claim and its
 * publish. One consumer (a thread that blocks on the futex of head_, or with
 * -DASYNC_CONSUMER a task on loop 0) takes everything until the end marker.
 * Capacity C = 2, so puts find the queue full, the consumer finds holes
 * (claimed, unpublished cells) and empty cells, and both sides wait.
 * Checked: every accepted put arrives once, with the value that was put (no
 * cell read before it is written), in each producer's order; the end marker
 * comes only after every accepted item; nobody is blocked forever (invalid
 * end states: a lost wake-up or a deadlock, also a consumer stuck on a hole).
 * Tickets are plain counters here (at most 5 puts, no wrap).
 * Switches: -DASYNC_CONSUMER, -DASYNC_PRODUCER (as above);
 *   -DCLOSE_ANYTIME: close() from a fourth context at any moment instead of
 *    after the producers finished (producers stop at QueueClosed; every put
 *    that succeeded arrives, including one claimed before the close and
 *    published after it);
 * Mutants (each must fail):
 *   -DMUTANT_PUBLISH_BEFORE_WRITE  the stamp says published before the item
 *    is in the cell: the consumer reads an unwritten cell;
 *   -DMUTANT_NO_RECHECK  the consumer arms and sleeps without looking at the
 *    stamp it armed: a publish between its look and its arm is slept through;
 *   -DMUTANT_PRODUCER_CLEARS_BIT  a producer that finds room after arming
 *    withdraws the shared waiting bit, erasing another producer's;
 *   -DMUTANT_CLAIM_IGNORES_CLOSE (with CLOSE_ANYTIME) the claim keeps the
 *    closed bit instead of failing on it: a put after close() is accepted and
 *    may never be delivered. */
#include "loop_wake.pml"

#define C 2
#define OK 0
#define FULL 1
#define CLOSED 2
/* head_ = head << 3 | flags */
#define CW 1           /* consumer waits */
#define PWT 2          /* thread producers wait */
#define PWK 4          /* task producers wait */
#define HEAD(w) ((w) / 8)
#define LAP(t) ((t) / C)
#define FREE(t) (2 * LAP(t))
#define PUBLISHED(t) (2 * LAP(t) + 1)

byte claim = 0;        /* claim_'s ticket ... */
bool closed = false;   /* ... and its closed bit (one word: one atomic step) */
byte stamp[C];         /* 2 * lap + published */
bool here[C];          /* the stamp's consumer_waits_here bit */
byte val[C];           /* 0: nothing written */
byte hw = 0;           /* head_ */

byte accepted = 0;
byte taken = 0;
byte producers_done = 0;
bool c_done = false;

/* Threads asleep in futex_wait(head_): the consumer, A, and B when a thread. */
bool c_parked = false; bool a_parked = false; bool b_parked = false;
/* The consumer task's wake block (loop 0) and the producer loop's entry (loop 1). */
bool c_queued = false; bool c_posted = false; bool c_waiter = false; bool c_woken = false;
bool k_queued = false; bool k_posted = false; bool k_waiter = false; bool k_armed = false;

inline unblock_head() { c_parked = false; a_parked = false; b_parked = false }

inline wake_consumer() {
#ifdef ASYNC_CONSUMER
    notify(0, c_queued, c_posted)
#else
    unblock_head()
#endif
}

inline wake_producers(flags) {
    if
    :: (flags & PWT) -> unblock_head()
    :: else -> skip
    fi;
    if
    :: (flags & PWK) && k_armed -> notify(1, k_queued, k_posted)
    :: else -> skip
    fi
}

/* push(): r = OK, FULL or CLOSED. */
inline push(v, r) {
    do
    :: atomic { t = claim; cl = closed };          /* relaxed load of claim_ */
       if
       :: cl -> r = CLOSED; break
       :: else -> skip
       fi;
       s = stamp[t % C];
       if
       :: s == FREE(t) ->
           atomic {
               if
#ifdef MUTANT_CLAIM_IGNORES_CLOSE
               :: claim == t -> claim = t + 1; r = OK
#else
               :: claim == t && !closed -> claim = t + 1; r = OK
#endif
               :: else -> r = FULL                 /* CAS failed: retry */
               fi
           };
           if
           :: r == OK -> break
           :: else -> skip
           fi
       :: s < FREE(t) -> r = FULL; break           /* behind: the previous lap's item is still there */
       :: else -> skip                             /* another producer took t */
       fi
    od;
    if
    :: r == OK ->
#ifdef MUTANT_PUBLISH_BEFORE_WRITE
        atomic { old_here = here[t % C]; here[t % C] = false; stamp[t % C] = PUBLISHED(t) };
        val[t % C] = v;
#else
        val[t % C] = v;
        atomic { old_here = here[t % C]; here[t % C] = false; stamp[t % C] = PUBLISHED(t) };
#endif
        if
        :: old_here ->                              /* take_consumer_wait */
            atomic { w = hw; hw = hw & ~CW };
            if
            :: (w & CW) -> wake_consumer()
            :: else -> skip
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    d_step { t = 0; cl = false; s = 0; old_here = false; w = 0 }   /* temporaries: not state */
}

inline room_or_closed(result) {
    atomic { t = claim; cl = closed };
    atomic { result = cl || !(stamp[t % C] < FREE(t)); t = 0; cl = false }
}

inline close() {
    closed = true;                                  /* fetch_or(closed) */
    atomic { w = hw; hw = hw & ~7 };                /* take every waiting bit */
    if
    :: (w & CW) -> wake_consumer()
    :: else -> skip
    fi;
    wake_producers(w)
}

/* put_sync(v, block = true) on a thread; `parked` is its futex sleep. */
inline put_blocking(v, r, parked) {
    push(v, r);
    do
    :: r != FULL -> break
    :: else ->
        atomic { w = hw; hw = hw | PWT };
        room_or_closed(room);
        if
        :: room ->
#ifdef MUTANT_PRODUCER_CLEARS_BIT
            hw = hw & ~PWT;
#endif
            d_step { room = false; w = 0 }
        :: else ->
            atomic {                                /* futex_wait(head_, w | PWT) */
                if
                :: hw == (w | PWT) -> parked = true
                :: else -> skip
                fi;
                w = 0
            };
            (!parked)
        fi;
        push(v, r)
    od
}

proctype ThreadProducer(byte id; byte n) {
    byte i = 1; byte r; byte t; bool cl; byte s; bool old_here; byte w; bool room;
    do
    :: i > n -> break
    :: else ->
        if
        :: id == 1 -> put_blocking(id * 4 + i, r, a_parked)
        :: else -> put_blocking(id * 4 + i, r, b_parked)
        fi;
        if
        :: r == OK -> accepted++; i++
        :: else -> break                            /* QueueClosed */
        fi
    od;
    producers_done++
}

#ifdef ASYNC_PRODUCER
/* serve_putters() of loop 1 for its one putter: put, or arm and look again. */
inline serve(v, r) {
    do
    :: push(v, r);
       if
       :: r != FULL -> k_waiter = false; k_armed = false; break
       :: else ->
           k_armed = true;
           atomic { w = hw; hw = hw | PWK };
           w = 0;
           room_or_closed(room);
           if
           :: room -> room = false
           :: else -> break                         /* armed: stay parked */
           fi
       fi
    od
}

proctype TaskProducer(byte id; byte n) {
    byte i = 1; byte r; byte t; bool cl; byte s; bool old_here; byte w; bool room;
    do
    :: i > n -> break
    :: else ->
        push(id * 4 + i, r);
        if
        :: r == FULL ->
            k_waiter = true;
            serve(id * 4 + i, r);
            /* parked until served: loop 1 runs its posted work or sleeps */
            do
            :: !k_waiter -> break
            :: else ->
                if
                :: k_posted -> k_posted = false; k_queued = false;
                    if
                    :: k_waiter -> serve(id * 4 + i, r)
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                if
                :: !k_waiter -> skip
                :: else -> sleep_unless(1, k_posted)
                fi
            od
        :: else -> skip
        fi;
        if
        :: r == OK -> accepted++; i++
        :: else -> break
        fi
    od;
    producers_done++
}
#endif

/* An interrupt handler's try_put: one atomic step, never waits. */
active proctype Interrupt() {
    byte r; byte t; bool cl; byte s; bool old_here; byte w;
    atomic {
        push(13, r);
        if
        :: r == OK -> accepted++
        :: else -> skip
        fi
    };
    producers_done++
}

active proctype Closer() {
    byte w;
#ifndef CLOSE_ANYTIME
    (producers_done == 3);
#endif
    close()
}

init {
    atomic {
#ifdef CLOSE_ANYTIME
        run ThreadProducer(1, 1);   /* fewer items: the closer multiplies the interleavings */
#else
        run ThreadProducer(1, 2);
#endif
#ifdef ASYNC_PRODUCER
        run TaskProducer(2, 1);
#else
        run ThreadProducer(2, 1);
#endif
    }
}

/* The consumer: `h` is its copy of the head ticket. */
inline pop(v, r) {
    if
    :: stamp[h % C] != PUBLISHED(h) -> r = FULL     /* nothing there (empty or a hole) */
    :: else ->
        v = val[h % C];
        val[h % C] = 0;
        atomic { stamp[h % C] = FREE(h + C); here[h % C] = false };
        h++;
        atomic { w = hw; hw = h * 8 };              /* exchange: takes the producers' bits */
        wake_producers(w);
        d_step { w = 0; r = OK }
    fi
}

/* arm_consumer(): true (ready) if the item is there or the stream ended. */
inline arm(ready) {
    atomic { w = hw; hw = hw | CW };
    atomic { s = stamp[h % C]; here[h % C] = true };
#ifdef MUTANT_NO_RECHECK
    ready = false
#else
    atomic { ready = s == PUBLISHED(h) || (closed && claim == h); s = 0 }
#endif
}

active proctype Consumer() {
    byte h = 0; byte v; byte r; byte w; byte s; bool ready;
    byte last[4];
    do
    :: pop(v, r);
       if
       :: r == OK ->
           assert(v != 0);                          /* the item was written */
           assert(v % 4 == last[v / 4] + 1);        /* FIFO per producer */
           d_step { last[v / 4] = v % 4; taken++; v = 0 }
       :: else ->
           if
           :: atomic { closed && claim == h } -> break   /* closed and drained: the end marker */
           :: else ->
#ifdef ASYNC_CONSUMER
               c_waiter = true;
               arm(ready);
               if
               :: ready -> hw = hw & ~CW; c_waiter = false
               :: else ->
                   do
                   :: c_woken -> c_woken = false; break
                   :: else ->
                       if
                       :: c_posted -> c_posted = false; c_queued = false;
                           if
                           :: c_waiter ->               /* on_consumer_wake */
                               arm(ready);
                               if
                               :: ready -> hw = hw & ~CW; c_waiter = false; c_woken = true
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
               fi
#else
               arm(ready);
               if
               :: ready -> hw = hw & ~CW
               :: else ->
                   atomic {                         /* futex_wait(head_, w | CW) */
                       if
                       :: hw == (w | CW) -> c_parked = true
                       :: else -> skip
                       fi;
                       w = 0
                   };
                   (!c_parked)
               fi
#endif
           fi
       fi
    od;
    c_done = true
}

/* Once everyone is done: nothing accepted was lost. */
active proctype Accounting() {
    (c_done && producers_done == 3);
    assert(taken == accepted)
}
