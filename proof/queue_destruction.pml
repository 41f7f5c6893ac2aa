/* SPDX-License-Identifier: BSL-1.0 */
/* Destruction of a ThreadSafeQueue whose ends are tasks on two loops
 * (include/asynclink/thread_safe_queue.hpp: detail::QueueEndWake, the
 * destruction contract in the header; tests/queue_lifetime_test.cpp).
 *
 * The producer's task on loop 1 waits on the full queue: its waiter is set and
 * its waiting bit is in the head. The consumer, on loop 0, takes an item (its pop
 * takes the bit and posts the producer end's wake-up to loop 1), may close()
 * (which also takes the bit if set), and then destroys the queue as the
 * contract allows: once nobody waits and its own calls have returned. Loop 1
 * meanwhile either runs the posted wake-up (waking the task) or cancels the
 * task first (the waiter withdraws its bit; the wake-up stays posted, stale).
 * Checked: no run() touches the queue after it is gone, nor the wake block
 * after it is freed; the block is freed in the end (no leak); no process is
 * blocked forever.
 * Switches: -DMUTANT_NODE_IN_QUEUE (the node and
 *            the waiter pointer are part of the queue, so a stale run() reads
 *            freed queue memory; verification must fail). */
#include "loop_wake.pml"

bool queue_alive = true;
bool block_alive = true;
byte holders = 1;        /* QueueEndWake::holders_: the queue's reference */
bool end_posted = false; /* QueueEndWake::posted_ */
bool queued = false; bool posted = false;  /* the node on loop 1 (RemoteNode::queued, in posted_) */
bool waiter = true;      /* QueueEndWake::waiter: the producer task parked at its end */
bool pbit = true;         /* the producer's waiting bit in the head */
bool task_done = false;  /* the producer task has stopped waiting (woken or cancelled) */
bool destroyed = false;
bool took = false;

/* QueueEndWake::post(loop 1) */
inline post() {
    atomic {
        if
        :: end_posted -> skip                          /* coalesce */
        :: else -> end_posted = true; holders++;  posted_new = true
        fi
    }
    if
    :: posted_new -> posted_new = false; notify(1, queued, posted)
    :: else -> skip
    fi
}

/* The drop of one reference; the last frees the block. */
inline drop() {
    atomic {
        holders--;
        if
        :: holders == 0 -> block_alive = false
        :: else -> skip
        fi
    }
}

/* QueueEndWake::run_posted, called by Loop::take_posted_work */
inline run_posted() {
#ifdef MUTANT_NODE_IN_QUEUE
    assert(queue_alive);             /* the node and q.producer_waiter_ are queue memory */
#endif
    assert(block_alive);
    end_posted = false;
    if
    :: waiter -> assert(queue_alive); waiter = false; pbit = false; task_done = true  /* on_wake<Side::producer> */
    :: else -> skip
    fi;
#ifndef MUTANT_NODE_IN_QUEUE
    drop()
#endif
}

active proctype ConsumerLoop() {
    bool posted_new = false;
    /* pop: the publishing CAS takes the producer's bit */
    atomic {
        if
        :: pbit -> pbit = false; took = true
        :: else -> took = false
        fi
    }
    if
    :: took -> post()
    :: else -> skip
    fi;
    /* maybe close(): takes the bit if set (it is not re-armed here, so this
     * post only ever coalesces or finds the bit gone) */
    if
    :: atomic { pbit -> pbit = false; took = true }; post()
    :: skip
    fi;
    /* Destroy as the contract says: nobody waiting, our calls returned. */
    (task_done);
    atomic { queue_alive = false; destroyed = true };
#ifndef MUTANT_NODE_IN_QUEUE
    drop()
#endif
}

/* Loop 1 outlives the queue (its sleep and wake are loop_wake.pml's business:
 * here it just takes posted work whenever there is some). */
active proctype ProducerLoop() {
    do
    :: posted -> atomic { posted = false; queued = false }; run_posted()
    :: waiter && !task_done ->       /* cancel the task: on_cancel withdraws the bit */
        atomic { waiter = false; pbit = false; task_done = true }
    :: destroyed -> break
    od;
    if                               /* a later iteration, or ~Loop, takes what is left */
    :: posted -> atomic { posted = false; queued = false }; run_posted()
    :: else -> skip
    fi
}

#ifndef MUTANT_NODE_IN_QUEUE
active proctype Accounting() {
    (destroyed && holders == 0);
    assert(!block_alive)
}
#endif
